package deploy

import (
	"bytes"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// liveOutput is a terminal's output with a live region at its bottom: one
// line per host busy with a step ("web1  … starting release …"), kept
// below everything else written, so hosts that deploy at once
// (deploy.batch > 1) each keep their own line. The step's result, said
// for that host, replaces its line. Every write goes through it: whatever
// the fleet prints lands above the region.
type liveOutput struct {
	mu    sync.Mutex
	w     io.Writer
	hosts []string          // hosts with a live line, in the order they got it
	lines map[string]string // host → its live line
	drawn int               // lines of the region on the screen now
	// midLine is true when the last text written did not end its line:
	// the region is drawn again once it does.
	midLine bool
}

// maxLiveLine bounds a live line (in characters) so that it fits an
// 80-column terminal: a line that wrapped would throw the region's
// height off.
const maxLiveLine = 78

func newLiveOutput(w io.Writer) *liveOutput {
	return &liveOutput{w: w, lines: map[string]string{}}
}

// Write writes p above the region.
func (l *liveOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(p), l.update(p, "", "", false)
}

// step shows line as host's live line.
func (l *liveOutput) step(host, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.update(nil, host, line, false)
}

// say writes line (which ends with a newline) above the region and removes
// host's live line: the step it showed is done.
func (l *liveOutput) say(host, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.update([]byte(line), host, "", true)
}

// update clears the region, writes p, sets (or with done removes) host's
// live line and draws the region again, in one write.
func (l *liveOutput) update(p []byte, host, line string, done bool) error {
	var b bytes.Buffer
	if l.drawn > 0 {
		b.WriteString("\033[" + strconv.Itoa(l.drawn) + "A\r\033[J")
		l.drawn = 0
	}
	b.Write(p)
	if len(p) > 0 {
		l.midLine = p[len(p)-1] != '\n'
	}
	switch {
	case done:
		l.remove(host)
	case host != "":
		if _, ok := l.lines[host]; !ok {
			l.hosts = append(l.hosts, host)
		}
		l.lines[host] = truncate(line, maxLiveLine)
	}
	if !l.midLine {
		for _, h := range l.hosts {
			b.WriteString(l.lines[h])
			b.WriteString("\033[K\n")
			l.drawn++
		}
	}
	_, err := l.w.Write(b.Bytes())
	return err
}

func (l *liveOutput) remove(host string) {
	if _, ok := l.lines[host]; !ok {
		return
	}
	delete(l.lines, host)
	for i, h := range l.hosts {
		if h == host {
			l.hosts = append(l.hosts[:i], l.hosts[i+1:]...)
			break
		}
	}
}

// truncate cuts s to at most n visible characters (escape sequences, the
// palette's colors, do not count), ending it with "…" when cut.
func truncate(s string, n int) string {
	visible := 0
	for i := 0; i < len(s); {
		if s[i] == '\033' {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			i++
			continue
		}
		if visible == n-1 && utf8.RuneCountInString(stripEscapes(s[i:])) > 1 {
			return s[:i] + "…\033[0m"
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		visible++
	}
	return s
}

// stripEscapes removes the palette's color sequences from s.
func stripEscapes(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\033' {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}
