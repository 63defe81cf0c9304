package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// proxy forwards r to an upstream like nginx's proxy_pass with gen-nginx's
// settings and reports whether the client connection stays open.
func (c *conn) proxy(r *request, s *settings, keep bool) bool {
	bodyLen, refusal := c.readRequestBody(r, s)
	defer c.body.reset()
	if refusal != nil {
		if refusal.status == 408 || refusal.status == 499 {
			c.status = refusal.status
			return false
		}
		return c.writeError(r, s, refusal.status, refusal.reason, false)
	}
	c.scratch = appendUpstreamHead(c.scratch[:0], r, s.websocket, c.remoteIP, c.scheme(), bodyLen)

	peers, cfg, err := c.p.pool.snapshot(c.p.opts.HoldTimeout, c.p.done)
	if err != nil {
		return c.writeError(r, s, 502, err.Error(), keep)
	}
	pick := picker{peers: peers, cfg: cfg, pool: c.p.pool}
	app, err := c.tryServers(&pick, s, bodyLen, idempotent(r.method))
	if app == nil {
		status, detail := upstreamFailure(err, s)
		return c.writeError(r, s, status, detail, keep)
	}
	app.peer.ok()
	c.activePeer = app.peer
	defer c.releasePeer()
	return c.relayResponse(r, s, app, &c.resp, keep)
}

// idempotent reports whether nginx may send a request with this method to
// another server after it reached one (proxy_next_upstream).
func idempotent(method []byte) bool {
	return !(eqFold(method, "post") || eqFold(method, "lock") || eqFold(method, "patch"))
}

// tryServers sends the request to the servers pick chooses until one
// answers with a valid response head (in c.resp), like nginx's
// proxy_next_upstream error timeout: a server that fails is marked and the
// next one tried, except after an invalid response, or once a
// non-idempotent request may have reached an app. It returns the
// answering connection, or nil and the last error.
func (c *conn) tryServers(pick *picker, s *settings, bodyLen int64, idempotent bool) (*appConn, error) {
	lastErr := errNoLiveUpstream
	for {
		server := pick.next(c.clientIP)
		if server == nil {
			return nil, lastErr
		}
		c.upstream = server.addr
		app, sent, err := c.exchange(server, s, &c.resp, bodyLen, idempotent)
		if err == nil {
			return app, nil
		}
		lastErr = err
		invalid := errors.Is(err, errUpstreamHeader) || errors.Is(err, errUpstreamTooBig)
		if !invalid {
			server.fail()
		}
		if invalid || sent && !idempotent {
			return nil, lastErr
		}
	}
}

// upstreamFailure is the status and detail of the page answering a request
// no server answered: 504 for a timeout, 502 otherwise.
func upstreamFailure(err error, s *settings) (int, string) {
	if !isTimeout(err) {
		return 502, upstreamErrorText(err)
	}
	var ce *connectError
	if errors.As(err, &ce) {
		return 504, "the app did not accept the connection within connect_timeout (" + s.connectTimeout.String() + "): " + err.Error()
	}
	return 504, "the app did not answer within read_timeout (" + s.readTimeout.String() + "): " + err.Error()
}

// releasePeer ends the request's count in its peer's active requests
// (least_conn). It runs as soon as the upstream's answer is complete,
// before its last bytes are flushed to the client: a client that sends its
// next request the moment it has the answer must find the count down, as
// nginx's single-threaded worker guarantees.
func (c *conn) releasePeer() {
	if c.activePeer != nil {
		c.activePeer.active.Add(-1)
		c.activePeer = nil
	}
}

// exchange sends the request to server and reads the response head. sent
// reports whether the request may have reached the app.
func (c *conn) exchange(server *peer, s *settings, resp *response, bodyLen int64, idempotent bool) (*appConn, bool, error) {
	server.active.Add(1)
	for attempt := 0; ; attempt++ {
		app, err := server.get(s.connectTimeout)
		if err != nil {
			server.active.Add(-1)
			return nil, false, &connectError{server.addr, err}
		}
		c.app.Store(app)
		err = c.sendRequest(app, s, resp, bodyLen)
		if err == nil {
			return app, true, nil
		}
		c.app.Store(nil)
		app.nc.Close()
		// A kept-alive connection the app closed just as it was taken:
		// retry once on a fresh connection, but only a request that may be
		// sent twice (the app may have acted on it before it closed).
		if app.used && attempt == 0 && idempotent && isStaleConnErr(err) {
			continue
		}
		server.active.Add(-1)
		return nil, true, err
	}
}

// queuedRequestLimit is the largest request (head and body) written in one
// write queued on the response's read: the socket takes it at once, so the
// read that follows never waits on an app that is not reading.
const queuedRequestLimit = 16 << 10

// sendRequest sends the request head in c.scratch and the buffered body to
// the app and reads the response head. proxy_send_timeout runs between two
// writes, proxy_read_timeout between two reads once the request is sent.
func (c *conn) sendRequest(app *appConn, s *settings, resp *response, bodyLen int64) error {
	app.early = false
	mem := c.body.mem
	if bodyLen > 0 && (c.body.file != nil || len(c.scratch)+len(mem) > queuedRequestLimit) {
		return c.sendBodyWhileReading(app, s, resp)
	}
	app.dl.setWrite(app.nc, time.Now(), s.sendTimeout)
	app.pr.idle = s.readTimeout
	// One write, made by the read of the response (pollReader.queueWrite):
	// that read then waits for the answer without trying first.
	n := len(c.scratch)
	if bodyLen > 0 {
		c.scratch = append(c.scratch, mem...)
	}
	app.pr.queueWrite(c.scratch)
	err := readResponseHead(app.br, resp)
	c.scratch = c.scratch[:n]
	return err
}

// sendBodyWhileReading writes the request from another goroutine while
// this one waits for the response head: an app may answer before it has
// read the whole body (a 401 or 404 to an upload), and nginx passes that
// answer on. The rest of the body is then not sent, and the connection is
// not reused (app.early).
func (c *conn) sendBodyWhileReading(app *appConn, s *settings, resp *response) error {
	// No read deadline while the request goes out: proxy_read_timeout
	// starts when it is sent, which the writer signals by setting it.
	app.pr.idle = 0
	app.nc.SetDeadline(time.Time{})
	written := make(chan error, 1)
	go func() {
		err := c.writeRequest(app.nc, s.sendTimeout)
		switch {
		case err == nil:
			app.nc.SetReadDeadline(time.Now().Add(s.readTimeout))
		case isTimeout(err):
			app.nc.SetReadDeadline(time.Now()) // the reader gives up too
		}
		written <- err
	}()
	err := readResponseHead(app.br, resp)
	var werr error
	aborted := false
	select {
	case werr = <-written:
	default:
		// The answer (or an error) came first: stop sending.
		aborted = true
		app.nc.SetWriteDeadline(time.Now())
		werr = <-written
	}
	// Both deadlines were moved behind app.dl's back.
	app.dl = deadlines{}
	app.pr.idle = s.readTimeout
	if err != nil {
		if werr != nil && !aborted && isTimeout(werr) {
			return werr // proxy_send_timeout: 504
		}
		return err
	}
	app.early = werr != nil
	return nil
}

// writeRequest writes the request head and the whole buffered body to nc,
// moving the write deadline to timeout from now before each piece.
func (c *conn) writeRequest(nc net.Conn, timeout time.Duration) error {
	w := deadlineWriter{nc, timeout}
	if _, err := w.Write(c.scratch); err != nil {
		return err
	}
	if c.body.file == nil {
		_, err := w.Write(c.body.mem)
		return err
	}
	// A retry sends the body again from the start.
	if _, err := c.body.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.CopyBuffer(w, c.body.file, make([]byte, 64<<10))
	return err
}

// deadlineWriter writes to an upstream in pieces of at most 64k, moving
// the send deadline forward before each (proxy_send_timeout is between two
// writes).
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
		k, err := w.nc.Write(p[n:min(n+64<<10, len(p))])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// connectError is a failure to connect to an upstream.
type connectError struct {
	addr string
	err  error
}

func (e *connectError) Error() string { return "connecting to " + e.addr + ": " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

func isStaleConnErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func upstreamErrorText(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: the app is not listening (" + err.Error() + ")"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the app closed the connection without a response"
	}
	return err.Error()
}

// relayResponse writes the upstream response to the client, streaming the
// body as it arrives, and returns the upstream connection to the keepalive
// pool when it can be reused.
func (c *conn) relayResponse(r *request, s *settings, app *appConn, resp *response, keep bool) bool {
	c.status = resp.status
	if resp.status == 101 && !(s.websocket && len(r.upgrade) > 0) {
		app.nc.Close()
		return c.writeError(r, s, 502, "the app switched protocols on a request that did not ask for it", keep)
	}
	f := relayFraming(r, s, resp)
	if f.untilClose {
		keep = false
	}
	c.scratch = appendRelayHead(c.scratch[:0], s, resp, f, keep, c.tls)
	if _, err := c.bw.Write(c.scratch); err != nil {
		app.nc.Close()
		return false
	}
	if f.upgrade {
		c.tunnel(app)
		return false
	}
	if f.noBody || resp.contentLength == 0 && !resp.chunked {
		// For HEAD the upstream sent no body whatever its headers say.
		c.releaseUpstream(app, resp, s, !resp.close)
		return c.flushIfIdle() == nil && keep
	}
	w := c.bodyWriter(f.chunked, f.gz)
	complete, clientOK := c.copyBody(app, resp, w)
	if clientOK && w.finish() != nil {
		clientOK = false
	}
	// A body that ends with the connection leaves nothing to reuse.
	c.releaseUpstream(app, resp, s, complete && !resp.close && (resp.chunked || resp.contentLength >= 0))
	if !complete || !clientOK {
		// The response is cut short; the only signal left is closing.
		c.bw.Flush()
		return false
	}
	return c.flushIfIdle() == nil && keep
}

// framing is how a relayed response reaches the client.
type framing struct {
	upgrade    bool // 101: a tunnel follows the head
	noBody     bool // HEAD, 1xx, 204, 304
	vary       bool // gzip_vary: the response is gzip-eligible
	gz         bool // compressed on the way
	chunked    bool // re-framed as chunked (gzip, or no length from the app)
	untilClose bool // an HTTP/1.0 client without a length: the end is the close
}

// relayFraming decides the client's framing: the upstream's length, else
// chunked, else (HTTP/1.0) until close.
func relayFraming(r *request, s *settings, resp *response) framing {
	f := framing{upgrade: resp.status == 101}
	f.noBody = eqFold(r.method, "head") || resp.status < 200 || resp.status == 204 || resp.status == 304
	f.vary = s.gzip && gzipEligible(resp) // HEAD answers too, as nginx's gzip_vary
	f.gz = f.vary && !f.noBody && gzipAccepted(r)
	if !f.upgrade && !f.noBody && (f.gz || resp.contentLength < 0) {
		if r.minor >= 1 {
			f.chunked = true
		} else {
			f.untilClose = true
		}
	}
	return f
}

// appendRelayHead appends the head of a relayed response: nginx's own
// headers first, then the app's in their order, less those nginx hides.
func appendRelayHead(b []byte, s *settings, resp *response, f framing, keep, tls bool) []byte {
	head := responseHead{
		statusLine:    resp.statusLine,
		contentType:   resp.contentType,
		contentLength: -1,
		chunked:       f.chunked,
		connection:    connectionValue(keep),
	}
	if resp.contentLength >= 0 && !f.gz && resp.status != 101 && !(resp.status == 204 || resp.status == 304 && resp.contentLength == 0) {
		head.contentLength = resp.contentLength
	}
	if f.upgrade {
		head.connection = "upgrade"
	}
	b = head.appendTo(b)
	for _, h := range resp.headers {
		if hiddenResponseHeader(h.name) {
			continue
		}
		if f.gz && (eqFold(h.name, "accept-ranges") || eqFold(h.name, "etag")) {
			continue
		}
		b = append(b, h.name...)
		b = appendField(b, ": ", h.value)
	}
	if f.gz {
		b = appendGzipHeaders(b, resp.etag)
	}
	if f.vary {
		b = append(b, "Vary: Accept-Encoding\r\n"...)
	}
	b = appendSecurity(b, s, tls)
	return append(b, "\r\n"...)
}

// releaseUpstream ends the request's use of app before the client has the
// whole response, as nginx frees the upstream peer when the upstream part
// of the request is done: least_conn counts it no more.
func (c *conn) releaseUpstream(app *appConn, resp *response, s *settings, reusable bool) {
	c.releasePeer()
	c.app.Store(nil)
	if !reusable || app.early || app.br.Buffered() > 0 {
		app.nc.Close()
		return
	}
	// The deadlines are left as they are: every use sets both first.
	app.peer.put(app, s.balance.keepalive)
}

// copyBody streams the upstream body to w: whatever arrived is written and,
// when the upstream has nothing more buffered, flushed to the client, so a
// streamed response reaches the client chunk by chunk. complete reports
// whether the whole body was read; clientOK whether the client took it.
func (c *conn) copyBody(app *appConn, resp *response, w bodyWriter) (complete, clientOK bool) {
	if !resp.chunked {
		return c.copySpan(app.br, resp.contentLength, w)
	}
	cr := chunkedReader{br: app.br}
	for {
		if app.br.Buffered() == 0 && c.flushBody(w) != nil {
			return false, false
		}
		size, err := cr.nextChunk()
		if err != nil {
			return false, true
		}
		if size == 0 {
			return true, true
		}
		if complete, clientOK := c.copySpan(app.br, size, w); !complete || !clientOK {
			return complete, clientOK
		}
		if cr.endChunk() != nil {
			return false, true
		}
	}
}

// copySpan copies n bytes of a body from br to w, or, when n is negative,
// all until the app closes the connection. What arrived is flushed to the
// client before each wait for more, as nginx's proxy_buffering off does.
func (c *conn) copySpan(br *bufio.Reader, n int64, w bodyWriter) (complete, clientOK bool) {
	for n != 0 {
		if br.Buffered() == 0 && c.flushBody(w) != nil {
			return false, false
		}
		want := max(br.Buffered(), 1)
		if n > 0 && int64(want) > n {
			want = int(n)
		}
		p, err := br.Peek(want)
		if len(p) > 0 {
			if _, werr := w.Write(p); werr != nil {
				return false, false
			}
			br.Discard(len(p))
			if n > 0 {
				n -= int64(len(p))
			}
		}
		if err != nil {
			if n < 0 && errors.Is(err, io.EOF) {
				return true, true // a close-delimited body ended
			}
			return false, true
		}
	}
	return true, true
}

func (c *conn) flushBody(w bodyWriter) error {
	if err := w.flush(); err != nil {
		return err
	}
	return c.bw.Flush()
}
