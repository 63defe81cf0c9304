package proxy

import (
	"bytes"
	_ "embed"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// mimeTypes is nginx's mime.types (Debian's /etc/nginx/mime.types), so a
// static file gets the Content-Type nginx would send.
//
//go:embed mime.types
var mimeTypesFile string

var mimeTypes = parseMimeTypes(mimeTypesFile)

func parseMimeTypes(s string) map[string]string {
	m := map[string]string{}
	body := s[strings.IndexByte(s, '{')+1:]
	if i := strings.LastIndexByte(body, '}'); i >= 0 {
		body = body[:i]
	}
	for _, stmt := range strings.Split(body, ";") {
		f := strings.Fields(stmt)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		for _, ext := range f[1:] {
			m[ext] = f[0]
		}
	}
	return m
}

func contentType(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 && !strings.Contains(name[i:], "/") {
		if t, ok := mimeTypes[strings.ToLower(name[i+1:])]; ok {
			return t
		}
	}
	return "application/octet-stream" // nginx's default_type
}

// serveStatic serves a file from a [[proxy.static]] folder like nginx's
// `location <url> { alias <dir>/; expires <expires>; }`. The path is the
// normalised one (no "..", so it cannot climb out), and the file is opened
// confined to the folder (os.Root, or openat2 on Linux), so a symbolic link
// pointing outside it is refused too (404), where nginx with
// disable_symlinks off would follow it.
func (c *conn) serveStatic(r *request, s *settings, sd *staticDir, keep bool) bool {
	if !eqFold(r.method, "get") && !eqFold(r.method, "head") {
		return c.writeError(r, s, 405, "static folder "+sd.url+" only answers GET and HEAD", keep)
	}
	f, name, answered, stay := c.openStaticFile(r, s, sd, keep)
	if answered {
		return stay
	}
	defer f.Close()
	a := chooseStaticAnswer(r, f, &c.validators)
	if a.status == 416 {
		page := errorPage(416, "the range "+string(r.rangeHdr)+" is outside the file ("+strconv.FormatInt(f.size, 10)+" bytes)", c.p.opts.ErrorHints, c.private())
		return c.writePage(r, pageResponse{status: 416, body: page, after: func(b []byte) []byte {
			b = append(b, "Content-Range: bytes */"...)
			b = strconv.AppendInt(b, f.size, 10)
			b = append(b, "\r\n"...)
			return appendSecurity(b, s, c.tls)
		}}, keep)
	}
	ct := contentType(name)
	// nginx's gzip filter runs before the range filter, so a 206 is judged
	// as the 200 it was, and a HEAD answer as its GET: both get Vary.
	vary := (a.status == 200 || a.status == 206) && s.gzip && f.size >= gzipMinLength && gzipType([]byte(ct))
	gz := vary && a.status == 200 && !eqFold(r.method, "head") && gzipAccepted(r)
	c.scratch = appendStaticHead(c.scratch[:0], r, s, sd, &a, f.size, ct, vary, gz, keep, c.tls)
	c.status = a.status
	if _, err := c.bw.Write(c.scratch); err != nil {
		return false
	}
	if a.status == 304 || eqFold(r.method, "head") {
		return c.flushIfIdle() == nil && keep
	}
	f.off = a.start
	if !c.writeFileBody(f, a.length, gz, r.minor >= 1) {
		return false
	}
	return c.flushIfIdle() == nil && keep
}

// openStaticFile opens the regular file r asks for in sd, with index.html
// for a folder. When it cannot (missing, hidden by permissions, a folder
// asked without its slash, not a regular file), it answers as nginx does:
// answered is true and stay says whether the connection stays open.
func (c *conn) openStaticFile(r *request, s *settings, sd *staticDir, keep bool) (f *staticFile, name string, answered, stay bool) {
	rel := strings.TrimPrefix(r.path, sd.url)
	root, err := sd.roots.get(r.start) // the request arrived a moment ago
	if err != nil {
		return nil, "", true, c.writeError(r, s, 404, "the static folder "+sd.dir+" cannot be opened: "+err.Error(), keep)
	}
	name = rel
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index.html" // nginx's index directive default
	}
	f = &c.file
	err = root.open(strings.TrimSuffix(name, "/"), f)
	if err != nil {
		if strings.HasSuffix(rel, "/") || rel == "" {
			dir := strings.TrimSuffix(rel, "/")
			if dir == "" {
				dir = "."
			}
			if fi, derr := root.root.Stat(dir); derr == nil && fi.IsDir() {
				// A folder without index.html, autoindex off.
				return nil, "", true, c.writeError(r, s, 403, "directory listing is off for "+r.path, keep)
			}
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, "", true, c.writeError(r, s, 403, "permission denied reading "+r.path, keep)
		}
		return nil, "", true, c.writeError(r, s, 404, "no file "+r.path+" in the static folder "+sd.dir, keep)
	}
	if f.dir {
		f.Close()
		// nginx redirects a folder asked without its trailing slash.
		loc := c.scheme() + "://" + string(r.host) + c.portSuffix() + r.path + "/"
		if q := queryOf(r.uri); q != "" {
			loc += "?" + q
		}
		return nil, "", true, c.writeRedirectExpires(r, s, loc, keep, sd.expires, true)
	}
	if !f.regular {
		f.Close()
		return nil, "", true, c.writeError(r, s, 403, r.path+" is not a regular file", keep)
	}
	return f, name, false, false
}

// staticAnswer is what a static request gets: 200, 206 (a range), 304 (a
// matching conditional) or 416 (a range past the end), and which bytes.
type staticAnswer struct {
	status        int
	statusLine    string
	start, length int64
	etag, lastMod []byte // in the connection's validators buffer
}

// chooseStaticAnswer applies nginx's not_modified filter (If-None-Match,
// then an exact If-Modified-Since) and range filter (one range, If-Range).
// The ETag and Last-Modified values are formatted into *buf, which the
// connection reuses from request to request.
func chooseStaticAnswer(r *request, f *staticFile, buf *[]byte) staticAnswer {
	mtime := f.mtime.Truncate(time.Second)
	b := append((*buf)[:0], '"')
	b = strconv.AppendInt(b, mtime.Unix(), 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, f.size, 16)
	b = append(b, '"')
	etagEnd := len(b)
	b = appendHTTPDate(b, mtime)
	*buf = b
	a := staticAnswer{
		status: 200, statusLine: "200 OK", length: f.size,
		etag: b[:etagEnd:etagEnd], lastMod: b[etagEnd:],
	}
	notModified := false
	if r.ifNoneMatch != nil {
		notModified = etagMatch(string(r.ifNoneMatch), string(a.etag))
	} else if r.ifModSince != nil {
		if t, err := time.Parse("Mon, 02 Jan 2006 15:04:05 GMT", string(r.ifModSince)); err == nil {
			notModified = t.Equal(mtime)
		}
	}
	switch {
	case notModified:
		a.status, a.statusLine = 304, "304 Not Modified"
	case r.rangeHdr != nil && ifRangeOK(r.ifRange, a.etag, a.lastMod):
		st, en, ok, satisfiable := parseRange(string(r.rangeHdr), f.size)
		switch {
		case ok && !satisfiable:
			a.status = 416
		case ok:
			a.status, a.statusLine = 206, "206 Partial Content"
			a.start, a.length = st, en-st+1
		}
	}
	return a
}

// appendStaticHead appends the head of a static answer in nginx's order.
func appendStaticHead(b []byte, r *request, s *settings, sd *staticDir, a *staticAnswer, size int64, ct string, vary, gz, keep, tls bool) []byte {
	head := responseHead{
		statusLine:    []byte(a.statusLine),
		contentLength: -1,
		lastModified:  a.lastMod,
		chunked:       gz && r.minor >= 1,
		connection:    connectionValue(keep),
	}
	if a.status != 304 {
		head.contentType = []byte(ct)
		if !gz {
			head.contentLength = a.length
		}
	}
	b = head.appendTo(b)
	if gz {
		b = appendGzipHeaders(b, a.etag)
	} else {
		b = appendField(b, "ETag: ", a.etag)
	}
	if vary {
		b = append(b, "Vary: Accept-Encoding\r\n"...)
	}
	b = appendExpires(b, sd.expires)
	if a.status == 206 {
		b = append(b, "Content-Range: bytes "...)
		b = strconv.AppendInt(b, a.start, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, a.start+a.length-1, 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, size, 10)
		b = append(b, "\r\n"...)
	} else if a.status == 200 && !gz {
		b = append(b, "Accept-Ranges: bytes\r\n"...)
	}
	b = appendSecurity(b, s, tls)
	return append(b, "\r\n"...)
}

// sendfileMin is the size from which a file's body goes from the file to
// the socket with sendfile(2), as nginx's `sendfile on`; smaller ones are
// read into the connection's write buffer with the head, one write for both.
const sendfileMin = 64 << 10

// sendfilePiece bounds one sendfile call, so send_timeout is counted
// between pieces rather than over the whole file.
const sendfilePiece = 256 << 10

// writeFileBody writes length bytes of f (from its offset) as the response
// body, gzip-compressed when gz.
func (c *conn) writeFileBody(f *staticFile, length int64, gz, chunked bool) bool {
	if gz {
		w := c.bodyWriter(chunked, true)
		buf := copyBufPool.Get().(*[]byte)
		_, err := io.CopyBuffer(w, io.LimitReader(f, length), *buf)
		copyBufPool.Put(buf)
		return err == nil && w.finish() == nil
	}
	tc, isTCP := c.nc.(*net.TCPConn)
	if length < sendfileMin || !isTCP {
		c.fileBody = io.LimitedReader{R: f, N: length}
		n, err := c.bw.ReadFrom(&c.fileBody)
		c.fileBody.R = nil
		c.bodyBytes += n
		return err == nil && n == length
	}
	if c.bw.Flush() != nil {
		return false
	}
	src, err := f.osFile()
	if err != nil {
		return false
	}
	s := c.p.settings.Load()
	for length > 0 {
		c.dl.setWrite(c.nc, time.Now(), s.clientSendTimeout)
		n, err := tc.ReadFrom(io.LimitReader(src, min(length, sendfilePiece)))
		c.bodyBytes += n
		length -= n
		if err != nil || n == 0 && length > 0 {
			return false
		}
	}
	return true
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// staticFile is an open file of a static folder: a raw descriptor from
// folderFD, or an *os.File from os.Root.
type staticFile struct {
	fd      int      // with f == nil
	f       *os.File // the os.Root path
	off     int64    // where Read continues
	size    int64
	mtime   time.Time
	dir     bool
	regular bool
}

// errFastOpen means folderFD cannot open files here: use os.Root.
var errFastOpen = errors.New("openat2 is not available")

func (sf *staticFile) Read(p []byte) (int, error) {
	var n int
	var err error
	if sf.f != nil {
		n, err = sf.f.ReadAt(p, sf.off)
	} else {
		n, err = pread(sf.fd, p, sf.off)
		if err == nil && n == 0 && len(p) > 0 {
			err = io.EOF
		}
	}
	sf.off += int64(n)
	return n, err
}

// osFile returns the file as an *os.File positioned at off (for sendfile);
// it then owns the descriptor.
func (sf *staticFile) osFile() (*os.File, error) {
	if sf.f == nil {
		sf.f = os.NewFile(uintptr(sf.fd), "static")
	}
	_, err := sf.f.Seek(sf.off, io.SeekStart)
	return sf.f, err
}

func (sf *staticFile) Close() {
	if sf.f != nil {
		sf.f.Close()
		return
	}
	closeFD(sf.fd)
}

// staticRoot is an open static folder.
type staticRoot struct {
	root *os.Root
	fast *folderFD // nil: open through root
}

// open opens name for reading into sf, with its metadata.
func (sr *staticRoot) open(name string, sf *staticFile) error {
	if sr.fast != nil {
		if err := sr.fast.open(name, sf); err != errFastOpen {
			return err
		}
	}
	f, err := sr.root.Open(name)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	*sf = staticFile{f: f, size: fi.Size(), mtime: fi.ModTime(), dir: fi.IsDir(), regular: fi.Mode().IsRegular()}
	return nil
}

// rootCache keeps a static folder open (an os.Root) for a second at a time:
// opening it for every request cost as much as serving a small file, and a
// folder replaced as a whole (rm -rf static; mkdir static) is seen within
// the second. A root replaced while requests still use it is closed by the
// garbage collector once they are done.
type rootCache struct {
	dir     string
	mu      sync.Mutex
	root    *staticRoot
	expires time.Time
}

func (rc *rootCache) get(now time.Time) (*staticRoot, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.root != nil && now.Before(rc.expires) {
		return rc.root, nil
	}
	root, err := os.OpenRoot(rc.dir)
	if err != nil {
		rc.root = nil
		return nil, err
	}
	rc.root, rc.expires = &staticRoot{root: root, fast: openFolderFD(rc.dir)}, now.Add(time.Second)
	return rc.root, nil
}

// appendExpires adds nginx's expires headers for a positive time.
func appendExpires(b []byte, d time.Duration) []byte {
	if d <= 0 {
		return b
	}
	b = append(b, "Expires: "...)
	b = appendHTTPDate(b, time.Now().Add(d))
	b = append(b, "\r\nCache-Control: max-age="...)
	b = strconv.AppendInt(b, int64(d/time.Second), 10)
	return append(b, "\r\n"...)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func ifRangeOK(ifRange, etag, lastMod []byte) bool {
	return ifRange == nil || bytes.Equal(ifRange, etag) || bytes.Equal(ifRange, lastMod)
}

// parseRange parses a single "bytes=" range. ok is false for a header nginx
// ignores (then the whole file is sent); satisfiable is false for a range
// that starts past the end (416).
func parseRange(h string, size int64) (start, end int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	spec = strings.TrimSpace(spec)
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 {
			return 0, 0, true, false
		}
		if n > size {
			n = size
		}
		return size - n, size - 1, true, size > 0
	}
	st, err := strconv.ParseInt(a, 10, 64)
	if err != nil || st < 0 {
		return 0, 0, false, false
	}
	en := size - 1
	if b != "" {
		en, err = strconv.ParseInt(b, 10, 64)
		if err != nil || en < st {
			return 0, 0, false, false
		}
		if en >= size {
			en = size - 1
		}
	}
	if st >= size {
		return 0, 0, true, false
	}
	return st, en, true, true
}

func queryOf(uri []byte) string {
	if i := strings.IndexByte(string(uri), '?'); i >= 0 {
		return string(uri[i+1:])
	}
	return ""
}

// portSuffix is ":port" of the address the client connected to, unless it
// is the scheme's default, 80 or 443 (nginx's port_in_redirect on). On a
// plain connection to ServeTLS's port, the suffix is https's.
func (c *conn) portSuffix() string {
	if c.port == nil {
		s := c.nc.LocalAddr().String()
		port, def := "", "80"
		if c.tls || c.toHTTPS {
			def = "443"
		}
		if i := strings.LastIndexByte(s, ':'); i >= 0 && s[i+1:] != def {
			port = s[i:]
		}
		c.port = &port
	}
	return *c.port
}
