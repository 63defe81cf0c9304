package proxy

import (
	"strconv"
	"sync/atomic"
	"time"
)

// responseHead is the start of every response head the proxy writes (its
// own pages, static files, relayed answers), written by appendTo alone in
// the fixed order of nginx's header filter. The headers that follow it (the
// app's own, ETag, Vary, Expires, the security headers) are each response
// kind's, appended after it.
type responseHead struct {
	statusLine    []byte // "200 OK"
	contentType   []byte // none when nil
	contentLength int64  // none when negative
	lastModified  []byte // none when nil
	location      string // none when empty
	chunked       bool   // Transfer-Encoding: chunked
	connection    string // "keep-alive", "close" or "upgrade"
}

// connectionValue is the Connection header's value for a response after
// which the connection stays open (keep) or closes.
func connectionValue(keep bool) string {
	if keep {
		return "keep-alive"
	}
	return "close"
}

// appendTo appends the status line, Server and Date (Server: stackctl,
// where nginx with server_tokens off would still say "nginx"), then the
// other fields that are set.
func (h *responseHead) appendTo(b []byte) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = append(b, h.statusLine...)
	b = append(b, "\r\nServer: stackctl\r\nDate: "...)
	b = append(b, httpDate(time.Now())...)
	b = append(b, "\r\n"...)
	if h.contentType != nil {
		b = appendField(b, "Content-Type: ", h.contentType)
	}
	if h.contentLength >= 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, h.contentLength, 10)
		b = append(b, "\r\n"...)
	}
	if h.lastModified != nil {
		b = appendField(b, "Last-Modified: ", h.lastModified)
	}
	if h.location != "" {
		b = append(b, "Location: "...)
		b = append(b, h.location...)
		b = append(b, "\r\n"...)
	}
	if h.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	b = append(b, "Connection: "...)
	b = append(b, h.connection...)
	return append(b, "\r\n"...)
}

// appendField appends "<name: >value\r\n"; name includes the colon and space.
func appendField(b []byte, name string, value []byte) []byte {
	b = append(b, name...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// Date header, formatted once per second.
var dateCache atomic.Pointer[dateValue]

type dateValue struct {
	sec int64
	b   []byte
}

func httpDate(now time.Time) []byte {
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.b
	}
	d := &dateValue{sec: sec, b: appendHTTPDate(nil, now)}
	dateCache.Store(d)
	return d.b
}

// appendHTTPDate appends t as an HTTP date ("Mon, 02 Jan 2006 15:04:05
// GMT", RFC 9110's IMF-fixdate), what time.AppendFormat with that layout
// gives, without parsing the layout for every Last-Modified and Expires.
func appendHTTPDate(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	b = append(b, "SunMonTueWedThuFriSat"[3*t.Weekday():3*t.Weekday()+3]...)
	b = append(b, ", "...)
	b = appendTwoDigits(b, day)
	b = append(b, ' ')
	b = append(b, "JanFebMarAprMayJunJulAugSepOctNovDec"[3*(month-1):3*month]...)
	b = append(b, ' ')
	if year >= 1000 && year <= 9999 {
		b = appendTwoDigits(b, year/100)
		b = appendTwoDigits(b, year%100)
	} else {
		b = t.AppendFormat(b, "2006")
	}
	b = append(b, ' ')
	b = appendTwoDigits(b, hour)
	b = append(b, ':')
	b = appendTwoDigits(b, minute)
	b = append(b, ':')
	b = appendTwoDigits(b, second)
	return append(b, " GMT"...)
}

func appendTwoDigits(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// Security headers: nginxconfig.io's defaults, added with "always".
const securityHeaders = "X-XSS-Protection: 1; mode=block\r\n" +
	"X-Content-Type-Options: nosniff\r\n" +
	"Referrer-Policy: no-referrer-when-downgrade\r\n" +
	"Content-Security-Policy: default-src 'self' http: https: ws: wss: data: blob: 'unsafe-inline'; frame-ancestors 'self';\r\n" +
	"Permissions-Policy: interest-cohort=()\r\n" +
	"X-Frame-Options: SAMEORIGIN\r\n"

// The TLS site's HSTS header (templates/nginx/tls.tmpl).
const (
	hstsHeader        = "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
	hstsPreloadHeader = "Strict-Transport-Security: max-age=31536000; includeSubDomains; preload\r\n"
)

// appendSecurity appends the site's add_header lines: HSTS on a TLS
// connection (the TLS server block's, before the security headers), then
// the security headers.
func appendSecurity(b []byte, s *settings, tls bool) []byte {
	if tls {
		b = append(b, s.hsts...)
	}
	if s.securityHeaders {
		b = append(b, securityHeaders...)
	}
	return b
}
