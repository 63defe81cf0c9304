package proxy

import (
	"io"
	"net"
	"time"
)

// tunnel joins the client and the upstream after a 101 Switching Protocols
// (WebSocket): bytes flow both ways unbuffered until either side closes, as
// nginx's upgraded connections do. proxy_read_timeout applies to silence
// from the upstream, as in nginx.
func (c *conn) tunnel(uc *upconn) {
	defer uc.nc.Close()
	defer c.nc.Close()
	if err := c.bw.Flush(); err != nil {
		return
	}
	s := c.p.settings.Load()
	c.dl.clear(c.nc)
	uc.dl.clear(uc.nc)
	done := make(chan struct{}, 2)
	var fromApp int64
	go func() {
		// Client to app, starting with what the client already sent.
		copyIdle(uc.nc, c.br, c.nc, 0)
		closeWrite(uc.nc)
		done <- struct{}{}
	}()
	go func() {
		fromApp = copyIdle(c.nc, uc.br, uc.nc, s.readTimeout)
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
		uc.nc.Close()
		<-done
	}
	c.bodyBytes += fromApp
}

// copyIdle copies src to dst; with idle > 0 the copy ends after that long
// without data (the read deadline is set on rc, the connection under src).
func copyIdle(dst io.Writer, src io.Reader, rc net.Conn, idle time.Duration) int64 {
	buf := make([]byte, 16<<10)
	var total int64
	for {
		if idle > 0 {
			rc.SetReadDeadline(time.Now().Add(idle))
		}
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total
			}
			total += int64(n)
		}
		if err != nil {
			return total
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
