package parity

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ViewOptions says how to read one front's response.
type ViewOptions struct {
	// Method is the request's method (a HEAD response has no body).
	Method string
	// FrontPort is the port the front listens on; it appears in the
	// absolute redirects each front writes and is replaced by "PORT".
	FrontPort string
}

// Headers View leaves out: they describe the connection to the client or the
// server software, not the site.
var droppedHeaders = map[string]bool{
	"connection":                           true, // keep-alive is per connection; nginx and Go choose differently when to close
	"keep-alive":                           true, // idem
	"transfer-encoding":                    true, // framing: the decoded body is compared instead
	strings.ToLower(EchoConnHeader):        true, // each front has its own upstream connections
	strings.ToLower(EchoConnRequestHeader): true, // idem
}

// View renders a response as the text the suite compares between the two
// fronts, after this normalisation:
//
//   - the status line and every 1xx before it are kept;
//   - header names are lower-cased and sorted by name, keeping the order of
//     repeated headers (names compare case-insensitively, order between
//     different names carries no meaning);
//   - the values of Date and Server are masked (the clock; "nginx" versus the
//     proxy's name), their presence and count are kept: an app's own Server
//     or Date passed through beside the front's shows;
//   - Connection, Keep-Alive and Transfer-Encoding are dropped, and the
//     Echo's connection headers X-Echo-Conn and X-Echo-Conn-Request;
//   - Expires is written as its distance from Date ("Date+2592000s"), since
//     the two fronts answer a second apart;
//   - the front's own port in a header value (an absolute redirect) becomes
//     "PORT";
//   - a body the front made itself for an error or a redirect (status >= 300
//     and no X-Echo-Server header) is written as "the front's page" and its
//     Content-Length dropped, a HEAD answer's too: each front has its own
//     error pages;
//   - a gzip body is decompressed, and its Content-Length dropped (two
//     compressors differ in bytes, not in content);
//   - an Echo answer (X-Echo-Server and its JSON body) is written as what the
//     upstream saw: method, raw target, protocol, framing, header lines (names
//     lower-cased, sorted by name, repeats in order) and body length and hash;
//   - any other body is written as text when it is short printable text,
//     else as its length and SHA-256.
func View(r *Response, opt ViewOptions) string {
	var b strings.Builder
	if r.Proto == "HTTP/0.9" {
		b.WriteString("HTTP/0.9 answer (no status line)\n")
		writeBody(&b, r.Body)
		return b.String()
	}
	for _, i := range r.Interim {
		fmt.Fprintf(&b, "interim %s %d %s\n", i.Proto, i.Status, i.Reason)
	}
	fmt.Fprintf(&b, "%s %d %s\n", r.Proto, r.Status, r.Reason)

	fromEcho := r.Header(EchoServerHeader) != ""
	errorPage := r.Status >= 300 && !fromEcho
	gz := strings.EqualFold(r.Header("Content-Encoding"), "gzip")

	date, _ := http.ParseTime(r.Header("Date"))
	var hs []Field
	for _, f := range r.Headers {
		name := strings.ToLower(f.Name)
		v := string(f.Value)
		if droppedHeaders[name] {
			continue
		}
		// A HEAD answer's Content-Length is that of the page a GET gets.
		if name == "content-length" && ((errorPage && (len(r.Body) > 0 || strings.EqualFold(opt.Method, "HEAD"))) || gz) {
			continue
		}
		switch name {
		case "expires":
			v = relativeExpires(v, date)
		case "date":
			v = "(the time)"
		case "server":
			v = "(the front's name)"
		}
		if opt.FrontPort != "" {
			v = strings.ReplaceAll(v, ":"+opt.FrontPort, ":PORT")
		}
		hs = append(hs, Field{Name: name, Value: Bytes(v)})
	}
	slices.SortStableFunc(hs, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range hs {
		fmt.Fprintf(&b, "header %s: %s\n", f.Name, quoteIfNeeded(string(f.Value)))
	}
	for _, f := range r.Trailers {
		fmt.Fprintf(&b, "trailer %s: %s\n", strings.ToLower(f.Name), quoteIfNeeded(string(f.Value)))
	}

	body := r.Body
	if gz && len(body) > 0 {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			fmt.Fprintf(&b, "gzip body does not decode: %v\n", err)
		} else {
			b.WriteString("gzip body, decoded:\n")
		}
	}
	switch {
	case r.Truncated:
		fmt.Fprintf(&b, "body cut short after %d bytes\n", len(body))
		writeBody(&b, body)
	case errorPage && len(body) > 0:
		b.WriteString("body: the front's own page\n")
	case fromEcho && writeSeen(&b, body):
	default:
		writeBody(&b, body)
	}
	return b.String()
}

// relativeExpires writes an Expires value as its distance from Date.
func relativeExpires(v string, date time.Time) string {
	t, err := http.ParseTime(v)
	if err != nil || date.IsZero() {
		return v
	}
	return fmt.Sprintf("Date%+ds", int64(t.Sub(date)/time.Second))
}

// writeSeen writes an Echo JSON body as the upstream's view; false when body
// is not one.
func writeSeen(b *strings.Builder, body []byte) bool {
	var s Seen
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || s.Method == "" {
		return false
	}
	b.WriteString(SeenView(&s))
	return true
}

// SeenView renders what an Echo received, normalised as View describes.
func SeenView(s *Seen) string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %s got: %s %s %s\n", s.Server, quoteIfNeeded(s.Method), quoteIfNeeded(string(s.Target)), quoteIfNeeded(s.Proto))
	hs := make([]Field, len(s.Headers))
	for i, f := range s.Headers {
		hs[i] = Field{Name: strings.ToLower(f.Name), Value: f.Value}
	}
	slices.SortStableFunc(hs, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range hs {
		fmt.Fprintf(&b, "upstream header %s: %s\n", quoteIfNeeded(f.Name), quoteIfNeeded(string(f.Value)))
	}
	for _, f := range s.Trailers {
		fmt.Fprintf(&b, "upstream trailer %s: %s\n", strings.ToLower(f.Name), quoteIfNeeded(string(f.Value)))
	}
	fmt.Fprintf(&b, "upstream body: %d bytes (%s), sha256 %.16s\n", s.BodyLength, s.Framing, s.BodySHA256)
	return b.String()
}

// writeBody writes short printable text as it is, anything else as length
// and hash.
func writeBody(b *strings.Builder, body []byte) {
	if len(body) == 0 {
		b.WriteString("body: empty\n")
		return
	}
	if len(body) <= 512 && printable(body) {
		b.WriteString("body:\n")
		for _, l := range strings.SplitAfter(string(body), "\n") {
			if l != "" {
				fmt.Fprintf(b, "  %s\n", strings.TrimSuffix(l, "\n"))
			}
		}
		return
	}
	sum := sha256.Sum256(body)
	fmt.Fprintf(b, "body: %d bytes, sha256 %.16s\n", len(body), hex.EncodeToString(sum[:]))
}

func printable(p []byte) bool {
	if !utf8.Valid(p) {
		return false
	}
	for _, r := range string(p) {
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' {
			return false
		}
	}
	return true
}

// quoteIfNeeded leaves printable ASCII as it is and quotes anything else, so
// a control byte or a Latin-1 byte is visible in a diff.
func quoteIfNeeded(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}
