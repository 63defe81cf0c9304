package proxy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// accessLog writes one line per request in nginx's combined format or as
// JSON.
type accessLog struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

func newAccessLog(w io.Writer, format string) (*accessLog, error) {
	switch format {
	case "", "combined":
		return &accessLog{w: w}, nil
	case "json":
		return &accessLog{w: w, json: true}, nil
	}
	return nil, fmt.Errorf("proxy: log format %q is not combined or json", format)
}

// logRequest writes the access log line of the current request.
func (c *conn) logRequest(r *request) {
	l := c.p.log
	if l.w == nil {
		return
	}
	var b []byte
	if l.json {
		b = c.appendJSON(nil, r)
	} else {
		b = c.appendCombined(nil, r)
	}
	l.mu.Lock()
	l.w.Write(b)
	l.mu.Unlock()
}

// appendCombined formats nginx's combined log format:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status
//	$body_bytes_sent "$http_referer" "$http_user_agent"
//
// with nginx's escaping of '"', '\' and bytes outside printable ASCII as \xXX.
func (c *conn) appendCombined(b []byte, r *request) []byte {
	b = append(b, c.remoteIP...)
	b = append(b, " - "...)
	b = appendLogValue(b, []byte(remoteUser(r.authorization)))
	b = append(b, " ["...)
	b = r.start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendLogEscaped(b, r.line)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(c.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, c.bodyBytes, 10)
	b = append(b, " \""...)
	b = appendLogValue(b, r.referer)
	b = append(b, "\" \""...)
	b = appendLogValue(b, r.userAgent)
	return append(b, "\"\n"...)
}

func appendLogValue(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	return appendLogEscaped(b, v)
}

func appendLogEscaped(b, v []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, ch := range v {
		if ch < ' ' || ch > '~' || ch == '"' || ch == '\\' {
			b = append(b, '\\', 'x', hex[ch>>4], hex[ch&15])
			continue
		}
		b = append(b, ch)
	}
	return b
}

// remoteUser is nginx's $remote_user: the user name of Basic credentials.
func remoteUser(auth []byte) string {
	if len(auth) < 6 || !eqFold(auth[:6], "basic ") {
		return ""
	}
	dec, err := base64.StdEncoding.DecodeString(string(auth[6:]))
	if err != nil {
		return ""
	}
	for i, ch := range dec {
		if ch == ':' {
			return string(dec[:i])
		}
	}
	return ""
}

type jsonLine struct {
	Time        string  `json:"time"`
	RemoteAddr  string  `json:"remote_addr"`
	RemoteUser  string  `json:"remote_user,omitempty"`
	Request     string  `json:"request"`
	Method      string  `json:"method"`
	URI         string  `json:"uri"`
	Status      int     `json:"status"`
	BodyBytes   int64   `json:"body_bytes_sent"`
	RequestTime float64 `json:"request_time"`
	Upstream    string  `json:"upstream,omitempty"`
	Host        string  `json:"host,omitempty"`
	Referer     string  `json:"http_referer,omitempty"`
	UserAgent   string  `json:"http_user_agent,omitempty"`
}

func (c *conn) appendJSON(b []byte, r *request) []byte {
	line := jsonLine{
		Time:        r.start.Format(time.RFC3339),
		RemoteAddr:  c.remoteIP,
		RemoteUser:  remoteUser(r.authorization),
		Request:     string(r.line),
		Method:      string(r.method),
		URI:         string(r.uri),
		Status:      c.status,
		BodyBytes:   c.bodyBytes,
		RequestTime: float64(time.Since(r.start).Microseconds()) / 1e6,
		Upstream:    c.upstream,
		Host:        string(r.host),
		Referer:     string(r.referer),
		UserAgent:   string(r.userAgent),
	}
	out, _ := json.Marshal(line)
	b = append(b, out...)
	return append(b, '\n')
}
