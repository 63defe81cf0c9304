package proxy

import (
	"bytes"
	"embed"
	"html/template"
	"strconv"
	"time"
)

//go:embed pages/*.html
var pagesFS embed.FS

// statusText is the reason phrase nginx writes for the statuses the proxy
// itself answers.
var statusText = map[int]string{
	301: "Moved Permanently",
	400: "Bad Request",
	403: "Forbidden",
	404: "Not Found",
	405: "Not Allowed",
	408: "Request Time-out",
	413: "Request Entity Too Large",
	414: "Request-URI Too Large",
	416: "Requested Range Not Satisfiable",
	500: "Internal Server Error",
	501: "Not Implemented",
	502: "Bad Gateway",
	504: "Gateway Time-out",
	505: "HTTP Version Not Supported",
}

// pages holds one template per status, each defining "explain" and using
// the shared layout.
var pages = loadPages()

func loadPages() map[int]*template.Template {
	layout := template.Must(template.ParseFS(pagesFS, "pages/layout.html"))
	m := map[int]*template.Template{}
	for code := range statusText {
		name := "pages/" + strconv.Itoa(code) + ".html"
		if _, err := pagesFS.Open(name); err != nil {
			continue
		}
		t := template.Must(template.Must(layout.Clone()).ParseFS(pagesFS, name))
		m[code] = t
	}
	return m
}

type pageData struct {
	Status int
	Title  string
	Detail string
	Hints  []string
	Public bool // the client is not on this machine
}

// publicDetail is what an error page tells a client that is not on this
// machine (serve with a public --listen): what failed, in words that name
// no file, folder, address or log line.
var publicDetail = map[int]string{
	403: "access to this path is not allowed",
	404: "there is no such file",
	405: "this method is not allowed here",
	413: "the request body is larger than this site accepts",
	416: "the requested range is outside the file",
	500: "the server could not handle the request",
	502: "the app is not answering",
	504: "the app did not answer in time",
}

// errorPage renders the body of an error status: what nginx would answer
// and what failed. A private page (a loopback client: the developer) says
// it in detail, with the app's last log lines; a public one says it
// without logs, paths or addresses.
func errorPage(status int, detail string, hints func() []string, private bool) []byte {
	d := pageData{Status: status, Title: statusText[status], Detail: detail, Public: !private}
	if !private {
		if pd, ok := publicDetail[status]; ok {
			d.Detail = pd
		} else if status >= 500 {
			d.Detail = ""
		}
		// 400, 414, 501 and 505 describe the client's own request.
	} else if hints != nil && (status == 502 || status == 504 || status == 500) {
		d.Hints = hints()
	}
	t := pages[status]
	if t == nil {
		t = pages[500]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		return []byte(strconv.Itoa(status) + " " + statusText[status] + "\n")
	}
	return buf.Bytes()
}

// pageResponse is a response the proxy writes itself, an error page or a
// redirect: a text/html body and the headers nginx sends with it.
type pageResponse struct {
	status   int
	body     []byte
	location string // a redirect's Location
	// after appends the headers that follow Connection, in nginx's order.
	after func(b []byte) []byte
	// flushAlways flushes even when a pipelined request waits (an error
	// may be followed by closing the connection).
	flushAlways bool
}

// writePage writes p as the answer to r and reports whether the connection
// stays open. Every page the proxy makes is written here.
func (c *conn) writePage(r *request, p pageResponse, keep bool) bool {
	c.status = p.status
	// nginx's pages are "text/html" without a charset; ours say
	// <meta charset="utf-8">.
	head := responseHead{
		statusLine:    []byte(strconv.Itoa(p.status) + " " + statusText[p.status]),
		contentType:   []byte("text/html"),
		contentLength: int64(len(p.body)),
		location:      p.location,
		connection:    connectionValue(keep),
	}
	b := head.appendTo(c.scratch[:0])
	if p.after != nil {
		b = p.after(b)
	}
	b = append(b, "\r\n"...)
	c.scratch = b
	c.bw.Write(b)
	if r.method == nil || !eqFold(r.method, "head") {
		c.bw.Write(p.body)
		c.bodyBytes = int64(len(p.body))
	}
	var err error
	if p.flushAlways {
		err = c.bw.Flush()
	} else {
		err = c.flushIfIdle()
	}
	return err == nil && keep
}

// writeError answers the request with status and an error page and reports
// whether the connection stays open (nginx closes after 400, 413, 414 and
// the other statuses it sends before reading the whole request).
func (c *conn) writeError(r *request, s *settings, status int, detail string, keep bool) bool {
	body := errorPage(status, detail, c.p.opts.ErrorHints, c.private())
	return c.writePage(r, pageResponse{status: status, body: body, flushAlways: true, after: func(b []byte) []byte {
		if s.gzip && (status == 403 || status == 404) && len(body) >= gzipMinLength {
			// gzip_vary: a 403 or 404 text/html page is gzip-eligible.
			b = append(b, "Vary: Accept-Encoding\r\n"...)
		}
		if c.toHTTPS {
			// The TLS site's plain HTTP block adds no headers.
			return b
		}
		return appendSecurity(b, s, c.tls)
	}}, keep)
}

// redirectPage is nginx's body of a 301.
var redirectPage = []byte("<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n<center><h1>301 Moved Permanently</h1></center>\r\n</body>\r\n</html>\r\n")

// writeRedirect answers proxy.redirect's 301 to loc. gen-nginx writes it as
// a server block of its own, without the site's security headers.
func (c *conn) writeRedirect(r *request, s *settings, loc string, keep bool) bool {
	return c.writeRedirectExpires(r, s, loc, keep, 0, false)
}

// writeRedirectExpires answers 301 to loc with the expires headers of a
// static folder and, when security is set, the site's security headers (a
// folder asked without its trailing slash).
func (c *conn) writeRedirectExpires(r *request, s *settings, loc string, keep bool, expires time.Duration, security bool) bool {
	return c.writePage(r, pageResponse{status: 301, body: redirectPage, location: loc, after: func(b []byte) []byte {
		b = appendExpires(b, expires)
		if security {
			b = appendSecurity(b, s, c.tls)
		} else if c.tls {
			// proxy.redirect's server block includes the TLS settings
			// and their HSTS, not the security headers.
			b = append(b, s.hsts...)
		}
		return b
	}}, keep)
}

// private reports whether the client is on this machine (loopback or a
// unix socket): only then do error pages show the app's log lines and the
// paths and addresses involved.
func (c *conn) private() bool {
	return c.clientIP == nil || c.clientIP.IsLoopback()
}
