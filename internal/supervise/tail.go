package supervise

import (
	"bytes"
	"sync"
)

// lineRing keeps the last lines the app and its builds wrote, for error
// pages ("the app's last log lines").
type lineRing struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func newLineRing(max int) *lineRing { return &lineRing{max: max} }

func (r *lineRing) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) == r.max {
		copy(r.lines, r.lines[1:])
		r.lines = r.lines[:r.max-1]
	}
	r.lines = append(r.lines, line)
}

// last returns up to n of the newest lines, oldest first.
func (r *lineRing) last(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(n, len(r.lines))
	return append([]string(nil), r.lines[len(r.lines)-n:]...)
}

// writer returns a writer adding each complete line to r.
func (r *lineRing) writer() *ringWriter { return &ringWriter{ring: r} }

type ringWriter struct {
	ring    *lineRing
	partial []byte
}

func (w *ringWriter) Write(p []byte) (int, error) {
	data := append(w.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		w.ring.add(string(bytes.TrimRight(data[:i], "\r")))
		data = data[i+1:]
	}
	if len(data) > 4096 {
		w.ring.add(string(data))
		data = nil
	}
	w.partial = append([]byte(nil), data...)
	return len(p), nil
}

func (w *ringWriter) flush() {
	if len(w.partial) > 0 {
		w.ring.add(string(w.partial))
		w.partial = nil
	}
}
