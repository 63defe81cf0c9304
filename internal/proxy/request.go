package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"time"
)

// header is one request header line as the client sent it (the name keeps
// its spelling; values are trimmed of surrounding white space like nginx).
type header struct {
	name, value []byte
}

// request is one parsed request head. Its byte slices point into the
// connection's head buffer and are valid until the next request.
type request struct {
	line         []byte // the request line, for the access log
	method       []byte
	uri          []byte // exactly as sent
	major, minor int
	path         string // decoded and normalised, for location matching
	headers      []header

	host           []byte // $host: lower-case, no port; nil when none was sent
	hostBuf        []byte // holds host's bytes, reused from request to request
	contentLength  int64  // -1 when absent
	chunked        bool
	keepAlive      bool
	upgrade        []byte
	connection     []byte
	expect100      bool
	via            bool
	acceptEncoding []byte
	xff            [][]byte
	userAgent      []byte
	referer        []byte
	authorization  []byte
	ifNoneMatch    []byte
	ifModSince     []byte
	rangeHdr       []byte
	ifRange        []byte

	start time.Time
}

// statusError is a request nginx refuses before it reaches a location: the
// status to answer and the reason (shown in the error page and the tests).
type statusError struct {
	status int
	reason string
}

func (e *statusError) Error() string { return e.reason }

func bad(reason string) error { return &statusError{400, reason} }

// Header size limits: nginx's client_header_buffer_size 1k and
// large_client_header_buffers 4 8k. A request line that does not fit one
// large buffer is 414; a header line that does not fit, or a head that needs
// more than four large buffers, is 400 ("Request Header Or Cookie Too Large").
const (
	smallHeaderBuffer = 1024
	largeHeaderBuffer = 8192
	largeHeaderCount  = 4
)

// headerPacker reproduces how nginx places the lines of a request head into
// its buffers: everything in the 1k buffer when it fits, else each line that
// does not fit the current buffer moves to a new 8k one, at most four.
type headerPacker struct {
	free  int
	large int
}

func (h *headerPacker) reset() { *h = headerPacker{free: smallHeaderBuffer} }

// add places a line of n bytes (with its line end); false when it does not fit.
func (h *headerPacker) add(n int) bool {
	if n <= h.free {
		h.free -= n
		return true
	}
	if n > largeHeaderBuffer || h.large == largeHeaderCount {
		return false
	}
	h.large++
	h.free = largeHeaderBuffer - n
	return true
}

var errIdle = errors.New("connection closed between requests")

// readHead reads and parses one request head from br into r, using buf to
// hold its bytes. It returns errIdle when the client closed the connection
// or went away before sending anything.
func readHead(br *bufio.Reader, r *request, buf []byte, serverName string) ([]byte, error) {
	var pack headerPacker
	pack.reset()
	r.line, r.method, r.uri, r.host, r.path = nil, nil, nil, nil, ""
	r.headers = r.headers[:0]
	r.major, r.minor = 1, 0
	buf, err := readRequestLine(br, &pack, buf[:0])
	if err != nil {
		return buf, err
	}
	lineLen := len(buf)
	// A request line without a version is HTTP/0.9, which has no header
	// lines to wait for: refuse it now (nginx would answer it at once too).
	if !hasThreeFields(buf) {
		return buf, bad("client sent a request line without an HTTP version (HTTP/0.9 is not supported): " + quoteBytes(buf))
	}
	var spanBuf [32]headerSpan
	spans, buf, err := readHeaderLines(br, &pack, buf, spanBuf[:0])
	if err != nil {
		return buf, err
	}
	// The buffer no longer moves: turn offsets into slices.
	r.line = buf[:lineLen:lineLen]
	for _, sp := range spans {
		r.headers = append(r.headers, header{buf[sp.name[0]:sp.name[1]:sp.name[1]], buf[sp.value[0]:sp.value[1]:sp.value[1]]})
	}
	if err := parseRequestLine(r); err != nil {
		return buf, err
	}
	return buf, processHeaders(r, serverName)
}

// readRequestLine appends the request line to buf, without its line end;
// empty lines before it are skipped like nginx does.
func readRequestLine(br *bufio.Reader, pack *headerPacker, buf []byte) ([]byte, error) {
	for {
		l, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return buf, errRequestLineTooLong
		}
		if err != nil {
			if len(l) == 0 {
				return buf, errIdle
			}
			return buf, err
		}
		if len(trimEOL(l)) == 0 {
			continue
		}
		if !pack.add(len(l)) {
			return buf, errRequestLineTooLong
		}
		return append(buf, trimEOL(l)...), nil
	}
}

var errRequestLineTooLong = &statusError{414, "the request line is longer than 8k (large_client_header_buffers)"}

// headerSpan is where a header line's name and value are in the head
// buffer, which may still move while lines are appended.
type headerSpan struct{ name, value [2]int }

// readHeaderLines appends the header lines up to the empty line that ends
// the head to buf and returns where each is; lines nginx ignores
// (underscores, other unusual name characters) are left out.
func readHeaderLines(br *bufio.Reader, pack *headerPacker, buf []byte, spans []headerSpan) ([]headerSpan, []byte, error) {
	for {
		l, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return nil, buf, bad("a request header line is longer than 8k (Request Header Or Cookie Too Large)")
		}
		if err != nil {
			return nil, buf, err
		}
		if !pack.add(len(l)) {
			return nil, buf, bad("the request headers are larger than 4 × 8k (Request Header Or Cookie Too Large)")
		}
		l = trimEOL(l)
		if len(l) == 0 {
			return spans, buf, nil
		}
		nameEnd, valStart, valEnd, status := splitHeader(l)
		if status == invalidHeader {
			return nil, buf, bad("client sent invalid header line: " + quoteBytes(l))
		}
		if status == ignoredHeader {
			continue // nginx: ignore_invalid_headers on, underscores_in_headers off
		}
		off := len(buf)
		buf = append(buf, l...)
		spans = append(spans, headerSpan{[2]int{off, off + nameEnd}, [2]int{off + valStart, off + valEnd}})
	}
}

// hasThreeFields reports whether a request line has at least three
// space-separated fields (method, URI, version): one without a version is
// HTTP/0.9.
func hasThreeFields(line []byte) bool {
	fields, inField := 0, false
	for _, c := range line {
		space := c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
		if !space && !inField {
			if fields++; fields == 3 {
				return true
			}
		}
		inField = !space
	}
	return false
}

func trimEOL(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
	}
	return l
}

const (
	goodHeader = iota
	ignoredHeader
	invalidHeader
)

// splitHeader parses one header line like nginx 1.22's
// ngx_http_parse_header_line: name characters are letters, digits and '-';
// an underscore or any other printable character makes the header ignored;
// a control character or space in the name, a line starting with white space
// or ':' or a NUL in the value makes the request invalid (400). A line
// without a colon is a header with an empty value.
func splitHeader(l []byte) (nameEnd, valStart, valEnd int, status int) {
	if len(l) == 0 || l[0] <= ' ' || l[0] == 0x7f || l[0] == ':' {
		return 0, 0, 0, invalidHeader
	}
	status = goodHeader
	i := 0
	for ; i < len(l); i++ {
		ch := l[i]
		if ch == ':' {
			break
		}
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-':
		case ch <= ' ' || ch == 0x7f:
			return 0, 0, 0, invalidHeader
		default:
			status = ignoredHeader // '_' (underscores_in_headers off) and others
		}
	}
	nameEnd = i
	if i < len(l) {
		i++
	}
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	end := len(l)
	for end > i && (l[end-1] == ' ' || l[end-1] == '\t') {
		end--
	}
	if bytes.IndexByte(l[i:end], 0) >= 0 || bytes.IndexByte(l[i:end], '\r') >= 0 {
		return 0, 0, 0, invalidHeader
	}
	return nameEnd, i, end, status
}

// parseRequestLine splits "METHOD URI HTTP/x.y" like nginx: the method is
// upper-case letters, '_' and '-'; the URI is origin-form ("/...") or
// absolute-form ("http://host/..."), with no spaces or control characters;
// a major version other than 1 is 505.
func parseRequestLine(r *request) error {
	l := r.line
	i := 0
	for i < len(l) && (l[i] >= 'A' && l[i] <= 'Z' || l[i] == '_' || l[i] == '-') {
		i++
	}
	if i == 0 || i == len(l) || l[i] != ' ' {
		return bad("client sent invalid method in " + quoteBytes(l))
	}
	r.method = l[:i]
	i = skipSpaces(l, i)
	us := i
	for i < len(l) && l[i] != ' ' {
		if l[i] < ' ' || l[i] == 0x7f {
			return bad("client sent a control character in the request line")
		}
		i++
	}
	r.uri = l[us:i]
	v := bytes.TrimRight(l[skipSpaces(l, i):], " ")
	if len(r.uri) == 0 || len(v) < 8 || string(v[:5]) != "HTTP/" {
		return bad("client sent invalid request line " + quoteBytes(l))
	}
	major, minor, err := parseVersion(v[5:])
	if err != nil {
		return err
	}
	r.major, r.minor = major, minor
	return r.setTarget()
}

func skipSpaces(l []byte, i int) int {
	for i < len(l) && l[i] == ' ' {
		i++
	}
	return i
}

// parseVersion parses the "1.1" of "HTTP/1.1": major and minor of at most
// two digits; a major version other than 1 is 505.
func parseVersion(v []byte) (major, minor int, err error) {
	major, rest, ok := parseDigits(v)
	if !ok || len(rest) < 2 || rest[0] != '.' {
		return 0, 0, bad("client sent invalid HTTP version")
	}
	minor, rest, ok = parseDigits(rest[1:])
	if !ok || len(rest) != 0 || major > 99 || minor > 99 {
		return 0, 0, bad("client sent invalid HTTP version")
	}
	if major != 1 {
		return 0, 0, &statusError{505, "client sent an HTTP version other than 1.x"}
	}
	return major, minor, nil
}

// setTarget reads r.uri: an absolute-form target gives $host and the path
// passed on; the path is normalised for location matching.
func (r *request) setTarget() error {
	if r.uri[0] != '/' {
		host, path, ok := splitAbsoluteURI(r.uri)
		if !ok {
			return bad("client sent invalid request URI " + quoteBytes(r.uri))
		}
		h, ok := validateHost(r.hostBuf[:0], host)
		if !ok {
			return bad("client sent invalid host in request line")
		}
		r.hostBuf, r.host = h, h
		r.uri = path
	}
	p, ok := normalizePath(r.uri)
	if !ok {
		return bad("client sent invalid request URI " + quoteBytes(r.uri))
	}
	r.path = p
	return nil
}

func parseDigits(b []byte) (int, []byte, bool) {
	n, i := 0, 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		if n > 1<<20 {
			return 0, nil, false
		}
		i++
	}
	return n, b[i:], i > 0
}

// splitAbsoluteURI splits "scheme://host[:port]/path" into the host and the
// path nginx passes upstream (the part from the first '/' after the host).
func splitAbsoluteURI(u []byte) (host, path []byte, ok bool) {
	i := 0
	for i < len(u) && (u[i] >= 'a' && u[i] <= 'z' || u[i] >= 'A' && u[i] <= 'Z') {
		i++
	}
	if i == 0 || !bytes.HasPrefix(u[i:], []byte("://")) {
		return nil, nil, false
	}
	rest := u[i+3:]
	j := bytes.IndexAny(rest, "/?")
	if j < 0 {
		j = len(rest)
	} else if rest[j] == '?' {
		return nil, nil, false
	}
	if !absoluteHostOK(rest[:j]) {
		return nil, nil, false
	}
	if j == len(rest) {
		return rest, []byte("/"), true
	}
	return rest[:j], rest[j:], true
}

// absoluteHostOK checks the host of an absolute-form request-target as
// nginx's request-line parser does: letters, digits, '.' and '-' (or an
// IP literal in brackets), then an optional ':' and a port of digits only.
// Anything else ("a@b", "host:8x") is a 400.
func absoluteHostOK(h []byte) bool {
	i := 0
	if len(h) > 0 && h[0] == '[' {
		j := bytes.IndexByte(h, ']')
		if j < 0 {
			return false
		}
		i = j + 1
	} else {
		for i < len(h) && (h[i] >= 'a' && h[i] <= 'z' || h[i] >= 'A' && h[i] <= 'Z' || h[i] >= '0' && h[i] <= '9' || h[i] == '.' || h[i] == '-') {
			i++
		}
		if i == 0 {
			return false
		}
	}
	if i == len(h) {
		return true
	}
	if h[i] != ':' {
		return false
	}
	for _, c := range h[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validateHost checks and normalises a host like ngx_http_validate_host:
// lower-case, the port and a trailing dot removed; "..", '/', '\\', spaces
// and control characters are invalid, as is an empty host. A leading dot
// is allowed (".example.com"), as in nginx. The normalised host is
// appended to dst (the request's own buffer: no allocation per request).
func validateHost(dst, h []byte) ([]byte, bool) {
	dotPos, hostLen := len(h), len(h)
	bracket := false
	for i := 0; i < len(h); i++ {
		ch := h[i]
		switch ch {
		case '.':
			if dotPos == i-1 {
				return nil, false
			}
			dotPos = i
		case ':':
			if !bracket {
				hostLen = i
				i = len(h)
			}
		case '[':
			if i == 0 {
				bracket = true
			}
		case ']':
			if bracket {
				hostLen = i + 1
				i = len(h)
			}
		case '/', '\\':
			return nil, false
		default:
			if ch <= ' ' || ch == 0x7f {
				return nil, false
			}
		}
	}
	if dotPos == hostLen-1 {
		hostLen--
	}
	if hostLen <= 0 {
		return nil, false
	}
	for _, c := range h[:hostLen] {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// processHeaders reads the headers nginx itself acts on and refuses what
// nginx 1.22 refuses.
func processHeaders(r *request, serverName string) error {
	r.resetHeaderFields()
	scan := headerScan{hostFromLine: r.host != nil}
	for _, h := range r.headers {
		if err := scan.note(r, h); err != nil {
			return err
		}
	}
	return scan.finish(r, serverName)
}

// resetHeaderFields clears what the previous request's headers set.
func (r *request) resetHeaderFields() {
	r.contentLength = -1
	r.chunked, r.expect100, r.via = false, false, false
	r.upgrade, r.connection, r.acceptEncoding, r.userAgent, r.referer = nil, nil, nil, nil, nil
	r.authorization, r.ifNoneMatch, r.ifModSince, r.rangeHdr, r.ifRange = nil, nil, nil, nil, nil
	r.xff = r.xff[:0]
}

// headerScan is what processHeaders learns from the header lines before
// it can judge them together (finish).
type headerScan struct {
	hostFromLine          bool // the request line was absolute-form
	sawHost, sawCL, sawTE bool
	te                    []byte
	connType              int // connDefault, connClose or connKeepAlive
}

// note reads one header line.
func (scan *headerScan) note(r *request, h header) error {
	if f := r.firstValueField(h.name); f != nil {
		if *f == nil {
			*f = h.value
		}
		return nil
	}
	n := h.name
	switch {
	case eqFold(n, "host"):
		return scan.host(r, h.value)
	case eqFold(n, "content-length"):
		return scan.contentLength(r, h.value)
	case eqFold(n, "transfer-encoding"):
		if scan.sawTE {
			return bad("client sent duplicate header line: Transfer-Encoding")
		}
		scan.sawTE, scan.te = true, h.value
	case eqFold(n, "connection"):
		scan.connection(r, h.value)
	case eqFold(n, "x-forwarded-for"):
		r.xff = append(r.xff, h.value)
	case eqFold(n, "via"):
		r.via = true
	case eqFold(n, "expect"):
		r.expect100 = r.expect100 || eqFold(h.value, "100-continue")
	}
	return nil
}

// firstValueField returns where r keeps the header named n when only its
// first occurrence counts, or nil.
func (r *request) firstValueField(n []byte) *[]byte {
	switch len(n) {
	case 5:
		if eqFold(n, "range") {
			return &r.rangeHdr
		}
	case 7:
		if eqFold(n, "upgrade") {
			return &r.upgrade
		} else if eqFold(n, "referer") {
			return &r.referer
		}
	case 8:
		if eqFold(n, "if-range") {
			return &r.ifRange
		}
	case 10:
		if eqFold(n, "user-agent") {
			return &r.userAgent
		}
	case 13:
		if eqFold(n, "authorization") {
			return &r.authorization
		} else if eqFold(n, "if-none-match") {
			return &r.ifNoneMatch
		}
	case 15:
		if eqFold(n, "accept-encoding") {
			return &r.acceptEncoding
		}
	case 17:
		if eqFold(n, "if-modified-since") {
			return &r.ifModSince
		}
	}
	return nil
}

// host reads a Host header: one at most, valid as nginx validates it, and
// $host unless the request line named a host.
func (scan *headerScan) host(r *request, v []byte) error {
	if scan.sawHost {
		return bad("client sent duplicate header line: Host")
	}
	scan.sawHost = true
	dst := r.hostBuf[:0]
	if scan.hostFromLine {
		dst = nil // checked, but the request line's host is $host
	}
	host, ok := validateHost(dst, v)
	if !ok {
		return bad("client sent invalid host header " + quoteBytes(v))
	}
	if !scan.hostFromLine {
		r.hostBuf, r.host = host, host
	}
	return nil
}

func (scan *headerScan) contentLength(r *request, v []byte) error {
	if scan.sawCL {
		return bad("client sent duplicate header line: Content-Length")
	}
	scan.sawCL = true
	cl, rest, ok := parseDigits64(v)
	if !ok || len(rest) != 0 {
		return bad("client sent invalid Content-Length " + quoteBytes(v))
	}
	r.contentLength = cl
	return nil
}

// connection reads a Connection header. Every one counts; the last that
// says close or keep-alive decides (ngx_http_process_connection).
func (scan *headerScan) connection(r *request, v []byte) {
	if r.connection == nil {
		r.connection = v
	}
	if containsFold(v, "close") {
		scan.connType = connClose
	} else if containsFold(v, "keep-alive") {
		scan.connType = connKeepAlive
	}
}

// finish judges the headers together: Host required in HTTP/1.1, the
// body's framing, and whether the connection stays open.
func (scan *headerScan) finish(r *request, serverName string) error {
	if r.host == nil {
		if r.major == 1 && r.minor >= 1 {
			return bad(`client sent HTTP/1.1 request without "Host" header`)
		}
		if serverName != "" {
			r.host = []byte(serverName)
		}
	}
	if scan.sawTE {
		if r.minor == 0 {
			return bad("client sent HTTP/1.0 request with Transfer-Encoding header")
		}
		if !eqFold(scan.te, "chunked") {
			return &statusError{501, "client sent unknown Transfer-Encoding " + quoteBytes(scan.te)}
		}
		if scan.sawCL {
			return bad(`client sent "Content-Length" and "Transfer-Encoding" headers at the same time`)
		}
		r.chunked = true
	}
	switch scan.connType {
	case connClose:
		r.keepAlive = false
	case connKeepAlive:
		r.keepAlive = true
	default:
		r.keepAlive = r.minor >= 1
	}
	return nil
}

// What a request's Connection headers ask for, as nginx reads them.
const (
	connDefault = iota
	connClose
	connKeepAlive
)

func parseDigits64(b []byte) (int64, []byte, bool) {
	var n int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if n > (1<<62)/10 {
			return 0, nil, false
		}
		n = n*10 + int64(b[i]-'0')
		i++
	}
	return n, b[i:], i > 0
}

// eqFold reports whether b equals the lower-case ASCII string s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// containsFold reports whether b contains the lower-case string s, ignoring
// case (nginx's ngx_strcasestrn on Connection).
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if eqFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

func quoteBytes(b []byte) string {
	const max = 120
	var sb bytes.Buffer
	sb.WriteByte('"')
	for i, c := range b {
		if i == max {
			sb.WriteString("…")
			break
		}
		if c < ' ' || c >= 0x7f || c == '"' || c == '\\' {
			sb.WriteString(`\x`)
			sb.WriteByte("0123456789ABCDEF"[c>>4])
			sb.WriteByte("0123456789ABCDEF"[c&15])
			continue
		}
		sb.WriteByte(c)
	}
	sb.WriteByte('"')
	return sb.String()
}
