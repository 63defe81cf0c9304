package proxy

import (
	"net"
	"time"
)

// deadlineSlack bounds how much earlier than asked a timeout may fire.
// Moving a deadline re-arms a runtime timer; on a busy keepalive connection
// the same timeout would be re-armed for every request, so a deadline is
// only moved when the new one is earlier, or later by more than the slack:
// a tenth of the timeout, at most deadlineSlack.
const deadlineSlack = time.Second

func slack(timeout time.Duration) time.Duration {
	return min(timeout/10, deadlineSlack)
}

// deadlines remembers the deadlines armed on one connection.
type deadlines struct {
	read, write time.Time
}

func (d *deadlines) setRead(nc net.Conn, now time.Time, timeout time.Duration) {
	t := now.Add(timeout)
	if t.Before(d.read) || t.Sub(d.read) > slack(timeout) {
		nc.SetReadDeadline(t)
		d.read = t
	}
}

func (d *deadlines) setWrite(nc net.Conn, now time.Time, timeout time.Duration) {
	t := now.Add(timeout)
	if t.Before(d.write) || t.Sub(d.write) > slack(timeout) {
		nc.SetWriteDeadline(t)
		d.write = t
	}
}

// clear removes both deadlines (for a tunnel that manages its own).
func (d *deadlines) clear(nc net.Conn) {
	nc.SetDeadline(time.Time{})
	d.read, d.write = time.Time{}, time.Time{}
}
