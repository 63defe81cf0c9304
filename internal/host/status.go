package host

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"time"
)

// OpenSSH exits 255 for its own failures (the connection broke) and also
// passes on a remote command's own status 255: the two look alike. A
// command run without a terminal says which it was: when its status is
// 255, its line ends by writing exitMarker to stderr, which Run takes off
// the stream again. With a terminal (stderr is the terminal's), Run asks
// the control master whether the connection still stands.

// exitMarker is what the remote command line writes to stderr after the
// command exited 255. It is removed whole, so the command's own stderr
// reaches the caller byte for byte. It starts with a NUL byte, which text
// output does not end a write with: markerWriter holds back only what
// could be the marker's start, so the output streams as it comes.
const exitMarker = "\x00stackctl: remote command exited 255\n"

// remoteLine is the command line the server's shell runs for argv: argv,
// then the marker when it exited 255, and argv's status.
func remoteLine(argv []string) string {
	marker := strings.NewReplacer("\x00", `\000`, "\n", `\n`).Replace(exitMarker)
	return Quote(argv...) + "; s=$?; [ $s -ne 255 ] || printf '" + marker + "' >&2; exit $s"
}

// sameWriter reports whether a and b are one writer (exec.Cmd then runs
// one copy for both, never two writes at once).
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false // an uncomparable type: not the same
		}
	}()
	return a != nil && a == b
}

// markerWriter passes everything written to w except a trailing
// exitMarker: it holds back only the end of what it got that could be
// the start of the marker, until more comes or the stream ends (close).
type markerWriter struct {
	w    io.Writer
	hold []byte
}

func (m *markerWriter) Write(p []byte) (int, error) {
	m.hold = append(m.hold, p...)
	if n := len(m.hold) - markerStart(m.hold); n > 0 {
		if _, err := m.w.Write(m.hold[:n]); err != nil {
			return 0, err
		}
		m.hold = append(m.hold[:0], m.hold[n:]...)
	}
	return len(p), nil
}

// markerStart is the length of the longest end of b that begins
// exitMarker (all of it included).
func markerStart(b []byte) int {
	for n := min(len(b), len(exitMarker)); n > 0; n-- {
		if bytes.HasPrefix([]byte(exitMarker), b[len(b)-n:]) {
			return n
		}
	}
	return 0
}

// close ends the stream: it reports whether the marker ended it, and
// writes what it held back otherwise.
func (m *markerWriter) close() (bool, error) {
	if bytes.Equal(m.hold, []byte(exitMarker)) {
		return true, nil
	}
	_, err := m.w.Write(m.hold)
	return false, err
}

// masterAlive reports whether the connection's control master still
// answers: a status 255 with it alive came from the remote command.
func (s *SSH) masterAlive() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args := append(s.baseArgs(), "-O", "check", "--", s.dest.Host)
	return exec.CommandContext(ctx, "ssh", args...).Run() == nil
}
