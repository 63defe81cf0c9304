package proxy

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// tunnel joins the client and the upstream after a 101 Switching Protocols
// (WebSocket): bytes flow both ways unbuffered until either side closes, as
// nginx's upgraded connections do, with nginx's limits: a write to the
// client may wait send_timeout, a write to the app proxy_send_timeout, and
// the tunnel ends after proxy_read_timeout without data either way. So no
// tunnel outlives a peer that stopped reading or a silent pair.
func (c *conn) tunnel(app *appConn) {
	defer app.nc.Close()
	defer c.nc.Close()
	if err := c.bw.Flush(); err != nil {
		return
	}
	s := c.p.settings.Load()
	c.pr.idle, app.pr.idle = 0, 0
	c.dl.clear(c.nc)
	app.dl.clear(app.nc)
	var last atomic.Int64 // when data last moved, either way (UnixNano)
	last.Store(time.Now().UnixNano())
	done := make(chan struct{}, 2)
	var fromApp int64
	go func() {
		// Client to app, starting with what the client already sent.
		pump(app.nc, s.sendTimeout, c.br, c.nc, s.readTimeout, &last)
		closeWrite(app.nc)
		done <- struct{}{}
	}()
	go func() {
		fromApp = pump(c.nc, s.clientSendTimeout, app.br, app.nc, s.readTimeout, &last)
		closeWrite(c.nc)
		done <- struct{}{}
	}()
	<-done
	// One direction ended: give the other a moment to drain, then close
	// both and wait for the copies to stop.
	t := time.NewTimer(s.readTimeout)
	select {
	case <-done:
		t.Stop()
	case <-t.C:
		c.nc.Close()
		app.nc.Close()
		<-done
	}
	c.bodyBytes += fromApp
}

// pump copies src (read from the connection rc) to dst until either fails.
// Each write to dst may wait up to send; the copy also ends when neither
// direction moved data for idle (last is shared by both directions).
func pump(dst net.Conn, send time.Duration, src io.Reader, rc net.Conn, idle time.Duration, last *atomic.Int64) int64 {
	buf := make([]byte, 16<<10)
	var total int64
	rc.SetReadDeadline(time.Now().Add(idle))
	for {
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			last.Store(now.UnixNano())
			dst.SetWriteDeadline(now.Add(send))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total
			}
			total += int64(n)
			rc.SetReadDeadline(time.Now().Add(idle))
		}
		if err != nil {
			if !isTimeout(err) {
				return total
			}
			// Silence on this side: the tunnel lives on while the other
			// side moved data within idle.
			until := time.Unix(0, last.Load()).Add(idle)
			if !time.Now().Before(until) {
				return total
			}
			rc.SetReadDeadline(until)
		}
	}
}

func closeWrite(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	nc.Close()
}
