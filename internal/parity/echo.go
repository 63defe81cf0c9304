package parity

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Field is one header line exactly as it was sent: the name with its case,
// the value without the surrounding spaces.
type Field struct {
	Name  string `json:"name"`
	Value Bytes  `json:"value"`
}

// Bytes is a string of raw bytes that survives JSON unchanged: every byte is
// written as the code point of the same value (Latin-1), so a request-target
// holding "\xff" or "%00" reaches the test exactly as the upstream read it,
// where encoding/json would turn invalid UTF-8 into U+FFFD.
type Bytes string

// MarshalJSON writes b as a JSON string of Latin-1 code points.
func (b Bytes) MarshalJSON() ([]byte, error) {
	r := make([]rune, len(b))
	for i := 0; i < len(b); i++ {
		r[i] = rune(b[i])
	}
	return json.Marshal(string(r))
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return fmt.Errorf("parity: code point %U is not a byte", r)
		}
		out = append(out, byte(r))
	}
	*b = Bytes(out)
	return nil
}

// Seen is what the Echo upstream received for one request. It is the JSON
// body of every echo answer, and Echo.Log keeps one per request.
type Seen struct {
	// Server is the Echo's name, telling several upstreams apart.
	Server string `json:"server"`
	// Method, Target and Proto are the request line's three parts, raw.
	Method string `json:"method"`
	Target Bytes  `json:"target"`
	Proto  string `json:"proto"`
	// Headers are the header lines in the order they came.
	Headers []Field `json:"headers"`
	// Framing is how the body was delimited: "none", "length" or "chunked".
	Framing string `json:"framing"`
	// Trailers are the trailer lines of a chunked body.
	Trailers []Field `json:"trailers,omitempty"`
	// BodyLength and BodySHA256 describe the decoded body.
	BodyLength int64  `json:"body_length"`
	BodySHA256 string `json:"body_sha256"`
}

// Header returns the values of the header lines named name (compared
// case-insensitively), in order.
func (s *Seen) Header(name string) []string {
	var out []string
	for _, f := range s.Headers {
		if strings.EqualFold(f.Name, name) {
			out = append(out, string(f.Value))
		}
	}
	return out
}

// Response headers the Echo adds to describe the upstream connection. They
// differ between two fronts by nature (each front has its own upstream
// connections), so View drops the connection ones.
const (
	// EchoServerHeader names the Echo that answered (Echo.Name).
	EchoServerHeader = "X-Echo-Server"
	// EchoConnHeader is the upstream connection's number at this Echo.
	EchoConnHeader = "X-Echo-Conn"
	// EchoConnRequestHeader counts the requests on that connection (1 for a
	// new connection; more when the front keeps upstream connections alive).
	EchoConnRequestHeader = "X-Echo-Conn-Request"
)

// Echo is an HTTP/1.1 upstream listening on loopback that answers with what it
// received. It reads requests itself rather than through net/http, so header
// names keep their case and order and the request-target is not cleaned.
//
// Every path answers 200 with the JSON of Seen, except:
//
//	/sleep?ms=N                 waits N ms, then echoes
//	/stream?chunks=N&gap=MS     a chunked text body of N chunks "chunk i\n",
//	                            each flushed, MS ms apart; with &gate=G the
//	                            chunks after the first wait for Release(G)
//	/big?bytes=N[&type=T]       a body of N bytes (a repeating pattern) of type T
//	/status?code=N&h=Name:Value a response with status N and each h header,
//	                            the echo JSON as body (none for 1xx, 204, 304)
//	/close[?before=headers]     promises 1000 bytes, sends 100 and closes;
//	                            before=headers closes without answering
//	/early?code=N[&then=drain]  answers N (the echo JSON) with Connection:
//	                            close before reading the request body; then
//	                            closes at once, or with then=drain reads and
//	                            discards the body first (up to 5s)
//	/ws                         a WebSocket echo: the first message is the
//	                            echo JSON of the handshake, then each message
//	                            comes back unchanged
//
// Connections are kept alive as HTTP/1.1 allows.
type Echo struct {
	// Name is returned in the X-Echo-Server header and Seen.Server.
	Name string

	ln    net.Listener
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	gates map[string]chan struct{}
	log   []Seen
	next  int
}

// StartEcho starts an Echo called name on a free port of 127.0.0.1.
func StartEcho(name string) (*Echo, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &Echo{
		Name:  name,
		ln:    ln,
		done:  make(chan struct{}),
		conns: map[net.Conn]struct{}{},
		gates: map[string]chan struct{}{},
	}
	e.wg.Add(1)
	go e.accept()
	return e, nil
}

// Addr is the Echo's "127.0.0.1:port".
func (e *Echo) Addr() string { return e.ln.Addr().String() }

// Close stops the Echo: it closes the listener and every connection and waits
// for their goroutines.
func (e *Echo) Close() error {
	select {
	case <-e.done:
		return nil
	default:
	}
	close(e.done)
	err := e.ln.Close()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
	return err
}

// Release lets a /stream?gate=G response go on past its first chunk. It may
// be called before the request arrives.
func (e *Echo) Release(gate string) {
	ch := e.gate(gate)
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (e *Echo) gate(name string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.gates[name]
	if !ok {
		ch = make(chan struct{})
		e.gates[name] = ch
	}
	return ch
}

// Log returns what the Echo has received so far, one Seen per request, in
// the order the requests were read.
func (e *Echo) Log() []Seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Seen(nil), e.log...)
}

// Count returns how many requests for exactly target the Echo has received.
func (e *Echo) Count(target string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.log {
		if string(s.Target) == target {
			n++
		}
	}
	return n
}

func (e *Echo) accept() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		select {
		case <-e.done:
			e.mu.Unlock()
			c.Close()
			return
		default:
		}
		e.conns[c] = struct{}{}
		e.next++
		id := e.next
		e.mu.Unlock()
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.serve(c, id)
			e.mu.Lock()
			delete(e.conns, c)
			e.mu.Unlock()
			c.Close()
		}()
	}
}

// maxEchoHeader bounds the request head the Echo reads.
const maxEchoHeader = 1 << 20

// echoRequest is one parsed request.
type echoRequest struct {
	seen      Seen
	keepAlive bool
}

func (e *Echo) serve(c net.Conn, id int) {
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	for n := 1; ; n++ {
		req, err := readEchoRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				body := fmt.Sprintf("echo: bad request: %v\n", err)
				fmt.Fprintf(bw, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
				bw.Flush()
			}
			return
		}
		req.seen.Server = e.Name
		e.mu.Lock()
		e.log = append(e.log, req.seen)
		e.mu.Unlock()
		conn := []string{EchoServerHeader + ": " + e.Name, EchoConnHeader + ": " + strconv.Itoa(id), EchoConnRequestHeader + ": " + strconv.Itoa(n)}
		if !e.answer(c, bw, br, req, conn) || !req.keepAlive {
			return
		}
	}
}

// answer writes the response to req and reports whether the connection may
// serve another request.
func (e *Echo) answer(c net.Conn, bw *bufio.Writer, br *bufio.Reader, req *echoRequest, conn []string) bool {
	s := &req.seen
	target := string(s.Target)
	path, rawQuery, _ := strings.Cut(target, "?")
	q, _ := url.ParseQuery(rawQuery)
	head := s.Method == "HEAD"
	js, _ := json.Marshal(s)
	js = append(js, '\n')
	closeHdr := ""
	if !req.keepAlive {
		closeHdr = "Connection: close\r\n"
	}
	switch path {
	case "/sleep":
		ms, _ := strconv.Atoi(q.Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-e.done:
			return false
		}
	case "/stream":
		chunks, _ := strconv.Atoi(q.Get("chunks"))
		gap, _ := strconv.Atoi(q.Get("gap"))
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n%s%s\r\n", joinLines(conn), closeHdr)
		if head {
			return bw.Flush() == nil
		}
		for i := range chunks {
			if i == 1 && q.Get("gate") != "" {
				select {
				case <-e.gate(q.Get("gate")):
				case <-time.After(10 * time.Second):
				case <-e.done:
					return false
				}
			}
			if i > 0 && gap > 0 {
				select {
				case <-time.After(time.Duration(gap) * time.Millisecond):
				case <-e.done:
					return false
				}
			}
			chunk := fmt.Sprintf("chunk %d\n", i)
			fmt.Fprintf(bw, "%x\r\n%s\r\n", len(chunk), chunk)
			if bw.Flush() != nil {
				return false
			}
		}
		bw.WriteString("0\r\n\r\n")
		return bw.Flush() == nil
	case "/big":
		n, _ := strconv.Atoi(q.Get("bytes"))
		typ := q.Get("type")
		if typ == "" {
			typ = "application/octet-stream"
		}
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n", oneLine(typ), n, joinLines(conn), closeHdr)
		if !head {
			writePattern(bw, n)
		}
		return bw.Flush() == nil
	case "/status":
		code, err := strconv.Atoi(q.Get("code"))
		if err != nil || code < 100 || code > 999 {
			code = 200
		}
		fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", code, reason(code))
		for _, h := range q["h"] {
			if name, value, ok := strings.Cut(h, ":"); ok {
				fmt.Fprintf(bw, "%s: %s\r\n", oneLine(name), oneLine(value))
			}
		}
		bw.WriteString(joinLines(conn) + closeHdr)
		if code < 200 || code == 204 || code == 304 {
			bw.WriteString("\r\n")
			return bw.Flush() == nil
		}
		fmt.Fprintf(bw, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(js))
		if !head {
			bw.Write(js)
		}
		return bw.Flush() == nil
	case "/close":
		if q.Get("before") == "headers" {
			bw.Flush()
			return false
		}
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n%s\r\n", joinLines(conn))
		writePattern(bw, 100)
		bw.Flush()
		return false
	case "/early":
		code, err := strconv.Atoi(q.Get("code"))
		if err != nil || code < 200 || code > 599 {
			code = 404
		}
		fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n", code, reason(code), len(js), joinLines(conn))
		bw.Write(js)
		bw.Flush()
		if q.Get("then") == "drain" {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, br)
		}
		return false
	case "/ws":
		e.websocket(c, bw, br, s, js, conn)
		return false
	}
	fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s%s\r\n", len(js), joinLines(conn), closeHdr)
	if !head {
		bw.Write(js)
	}
	return bw.Flush() == nil
}

func joinLines(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.String()
}

// oneLine keeps a query-supplied header name or value from starting a new
// header line.
func oneLine(s string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(strings.TrimSpace(s))
}

// Pattern returns the n bytes /big?bytes=n sends: "0123456789abcdef" repeated.
func Pattern(n int) []byte {
	const unit = "0123456789abcdef"
	b := bytes.Repeat([]byte(unit), n/len(unit)+1)
	return b[:n]
}

func writePattern(w io.Writer, n int) {
	const block = 1 << 16
	p := Pattern(block)
	for n > 0 {
		k := min(n, block)
		w.Write(p[:k])
		n -= k
	}
}

func reason(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 204:
		return "No Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 404:
		return "Not Found"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Status"
}

// readEchoRequest reads one request: the request line, the header lines as
// sent, and the body as the framing headers say (chunked wins over
// Content-Length, as RFC 9112 says; a front that sends both is what the test
// is looking for anyway, since the header list shows it).
func readEchoRequest(br *bufio.Reader) (*echoRequest, error) {
	line, err := readLine(br, maxEchoHeader)
	if err != nil {
		if errors.Is(err, io.EOF) && line == "" {
			return nil, io.EOF
		}
		return nil, err
	}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("request line %q is not METHOD TARGET PROTO", line)
	}
	req := &echoRequest{seen: Seen{Method: parts[0], Target: Bytes(parts[1]), Proto: parts[2]}}
	total := len(line)
	fields, err := readFields(br, maxEchoHeader-total)
	if err != nil {
		return nil, err
	}
	req.seen.Headers = fields
	s := &req.seen
	conn := strings.ToLower(strings.Join(s.Header("Connection"), ","))
	switch s.Proto {
	case "HTTP/1.1":
		req.keepAlive = !strings.Contains(conn, "close")
	case "HTTP/1.0":
		req.keepAlive = strings.Contains(conn, "keep-alive")
	default:
		return nil, fmt.Errorf("protocol %q is not HTTP/1.0 or HTTP/1.1", s.Proto)
	}
	if strings.HasPrefix(parts[1], "/early") {
		// An early answer: the body is left unread (answer decides).
		s.Framing = "unread"
		return req, nil
	}
	h := sha256.New()
	te := strings.ToLower(strings.Join(s.Header("Transfer-Encoding"), ","))
	cl := s.Header("Content-Length")
	switch {
	case te != "":
		if !strings.HasSuffix(strings.TrimSpace(te), "chunked") {
			return nil, fmt.Errorf("transfer-encoding %q is not chunked", te)
		}
		s.Framing = "chunked"
		n, trailers, err := readChunked(br, h)
		if err != nil {
			return nil, err
		}
		s.BodyLength, s.Trailers = n, trailers
	case len(cl) > 0:
		s.Framing = "length"
		n, err := strconv.ParseInt(strings.TrimSpace(cl[0]), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("content-length %q is not a length", cl[0])
		}
		m, err := io.CopyN(h, br, n)
		if err != nil {
			return nil, fmt.Errorf("body: read %d of %d bytes: %w", m, n, err)
		}
		s.BodyLength = n
	default:
		s.Framing = "none"
	}
	s.BodySHA256 = hex.EncodeToString(h.Sum(nil))
	return req, nil
}

// readLine reads one CRLF- or LF-terminated line of at most limit bytes and
// returns it without the line end.
func readLine(br *bufio.Reader, limit int) (string, error) {
	var b []byte
	for {
		frag, err := br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > limit {
			return "", fmt.Errorf("line longer than %d bytes", limit)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				return string(b), io.ErrUnexpectedEOF
			}
			return string(b), err
		}
		break
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return string(b), nil
}

// readFields reads header lines up to the empty line.
func readFields(br *bufio.Reader, limit int) ([]Field, error) {
	var out []Field
	for {
		line, err := readLine(br, limit)
		if err != nil {
			return nil, err
		}
		limit -= len(line)
		if limit < 0 {
			return nil, fmt.Errorf("header longer than %d bytes", maxEchoHeader)
		}
		if line == "" {
			return out, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("header line %q has no name", line)
		}
		out = append(out, Field{Name: name, Value: Bytes(strings.Trim(value, " \t"))})
	}
}

// readChunked decodes a chunked body into w and returns its length and
// trailers.
func readChunked(br *bufio.Reader, w io.Writer) (int64, []Field, error) {
	var total int64
	for {
		line, err := readLine(br, 4096)
		if err != nil {
			return total, nil, fmt.Errorf("chunk size: %w", err)
		}
		sizeText, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
		if err != nil || size < 0 {
			return total, nil, fmt.Errorf("chunk size %q is not hexadecimal", line)
		}
		if size == 0 {
			trailers, err := readFields(br, maxEchoHeader)
			return total, trailers, err
		}
		if _, err := io.CopyN(w, br, size); err != nil {
			return total, nil, fmt.Errorf("chunk data: %w", err)
		}
		total += size
		if end, err := readLine(br, 2); err != nil || end != "" {
			return total, nil, fmt.Errorf("chunk of %d bytes not followed by CRLF", size)
		}
	}
}

// websocketGUID is RFC 6455's key suffix.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// websocket answers an upgrade request and echoes frames until a close frame
// or an error.
func (e *Echo) websocket(c net.Conn, bw *bufio.Writer, br *bufio.Reader, s *Seen, js []byte, conn []string) {
	key := s.Header("Sec-WebSocket-Key")
	up := strings.ToLower(strings.Join(s.Header("Upgrade"), ","))
	if len(key) != 1 || !strings.Contains(up, "websocket") {
		body := "echo: /ws needs Upgrade: websocket and one Sec-WebSocket-Key\n"
		fmt.Fprintf(bw, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n%s", len(body), joinLines(conn), body)
		bw.Flush()
		return
	}
	sum := sha1.Sum([]byte(key[0] + websocketGUID))
	fmt.Fprintf(bw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
		base64.StdEncoding.EncodeToString(sum[:]), joinLines(conn))
	writeFrame(bw, 0x1, bytes.TrimSuffix(js, []byte("\n")))
	if bw.Flush() != nil {
		return
	}
	go func() {
		<-e.done
		c.Close()
	}()
	for {
		fin, op, payload, err := readFrame(br)
		if err != nil {
			return
		}
		switch op {
		case 0x8: // close: answer with the same status, then stop
			writeFrameFin(bw, true, 0x8, payload)
			bw.Flush()
			return
		case 0x9: // ping
			writeFrameFin(bw, true, 0xA, payload)
		case 0xA: // pong: nothing to do
			continue
		default:
			writeFrameFin(bw, fin, op, payload)
		}
		if bw.Flush() != nil {
			return
		}
	}
}

func writeFrame(w *bufio.Writer, op byte, payload []byte) { writeFrameFin(w, true, op, payload) }

// writeFrameFin writes one unmasked (server-to-client) frame.
func writeFrameFin(w *bufio.Writer, fin bool, op byte, payload []byte) {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	w.WriteByte(b0)
	switch n := len(payload); {
	case n < 126:
		w.WriteByte(byte(n))
	case n < 1<<16:
		w.WriteByte(126)
		w.WriteByte(byte(n >> 8))
		w.WriteByte(byte(n))
	default:
		w.WriteByte(127)
		for i := 7; i >= 0; i-- {
			w.WriteByte(byte(uint64(n) >> (8 * i)))
		}
	}
	w.Write(payload)
}

// readFrame reads one client frame and unmasks its payload.
func readFrame(br *bufio.Reader) (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	masked := h[1]&0x80 != 0
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err = io.ReadFull(br, ext[:]); err != nil {
			return
		}
		n = uint64(ext[0])<<8 | uint64(ext[1])
	case 127:
		var ext [8]byte
		if _, err = io.ReadFull(br, ext[:]); err != nil {
			return
		}
		n = 0
		for _, b := range ext {
			n = n<<8 | uint64(b)
		}
	}
	if n > 16<<20 {
		return false, 0, nil, fmt.Errorf("frame of %d bytes is too large", n)
	}
	var mask [4]byte
	if masked {
		if _, err = io.ReadFull(br, mask[:]); err != nil {
			return
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(br, payload); err != nil {
		return
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return fin, op, payload, nil
}
