package ui

import (
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/fatih/color"
)

// prefixColors are given to prefixes in the order they are first asked
// for, the way foreman colors its process names.
var prefixColors = []color.Attribute{
	color.FgCyan, color.FgYellow, color.FgGreen, color.FgMagenta, color.FgBlue, color.FgRed,
}

// maxPartialLine is how much of a line without a newline a PrefixWriter
// holds before it writes it out anyway.
const maxPartialLine = 64 << 10

// LogMux interleaves the output of several sources (the proxy, each copy of
// the app) on one stream, line by line, each line led by its source's name
// right-aligned in a column:
//
//	proxy | listening on http://127.0.0.1:8080
//	  app | ready in 0.9s (GET /healthz 200)
//
// Lines from different writers never mix, whatever goroutines write them.
type LogMux struct {
	mu    sync.Mutex
	out   io.Writer
	color bool
	width int
	names map[string]color.Attribute
}

// NewLogMux returns a LogMux writing to out; names are colored when
// colored is true (use IOStreams.ColorOut for stdout).
func NewLogMux(out io.Writer, colored bool) *LogMux {
	return &LogMux{out: out, color: colored, width: 5, names: map[string]color.Attribute{}}
}

// Writer returns a writer whose lines go out prefixed with name, padded on
// the left to two more than the longest name asked for so far. A line
// without its newline is held until the newline comes (or Flush).
func (m *LogMux) Writer(name string) *PrefixWriter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.names[name]; !ok {
		m.names[name] = prefixColors[len(m.names)%len(prefixColors)]
	}
	m.width = max(m.width, len(name))
	return &PrefixWriter{mux: m, name: name}
}

// prefix returns the "  name | " column for name; m.mu is held.
func (m *LogMux) prefix(name string) string {
	p := strings.Repeat(" ", 2+m.width-len(name)) + name + " | "
	if !m.color {
		return p
	}
	c := color.New(m.names[name])
	c.EnableColor()
	return c.Sprint(p)
}

// writeLines writes complete lines (each ending in '\n') under one prefix.
func (m *LogMux) writeLines(name string, lines []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.prefix(name)
	var b bytes.Buffer
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		b.WriteString(p)
		b.Write(lines[:i+1])
		lines = lines[i+1:]
	}
	_, err := m.out.Write(b.Bytes())
	return err
}

// PrefixWriter is one source's writer of a LogMux. It is safe for
// concurrent use.
type PrefixWriter struct {
	mux  *LogMux
	name string

	mu      sync.Mutex
	partial []byte
}

// Write writes every complete line of p with the prefix and keeps a trailing
// partial line for the next Write. It always reports len(p) written unless
// the underlying stream fails.
func (w *PrefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data := p
	if len(w.partial) > 0 {
		data = append(w.partial, p...)
		w.partial = nil
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	rest := data[end:]
	if len(rest) >= maxPartialLine {
		// A program writing an endless line: write it out as a line of its own.
		data = append(data[:len(data):len(data)], '\n')
		end, rest = len(data), nil
	}
	if len(rest) > 0 {
		w.partial = append([]byte(nil), rest...)
	}
	if end > 0 {
		if err := w.mux.writeLines(w.name, data[:end]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes a held partial line, ending it with a newline.
func (w *PrefixWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) == 0 {
		return nil
	}
	line := append(w.partial, '\n')
	w.partial = nil
	return w.mux.writeLines(w.name, line)
}
