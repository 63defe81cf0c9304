package host

import (
	"bytes"
	"testing"
)

// The marker is taken off the end of the stream however the writes split
// it, and anything else passes unchanged.
func TestMarkerWriter(t *testing.T) {
	for _, tt := range []struct {
		stream string
		want   string
		found  bool
	}{
		{"err\n" + exitMarker, "err\n", true},
		{exitMarker, "", true},
		{"err\n", "err\n", false},
		{"", "", false},
		{"x" + exitMarker + "more", "x" + exitMarker + "more", false},
		{exitMarker[:10], exitMarker[:10], false},
		{"ready\n", "ready\n", false},
	} {
		for chunk := 1; chunk <= len(tt.stream)+1; chunk += 7 {
			var out bytes.Buffer
			m := &markerWriter{w: &out}
			for s := tt.stream; len(s) > 0; {
				n := min(chunk, len(s))
				m.Write([]byte(s[:n]))
				s = s[n:]
			}
			found, _ := m.close()
			if out.String() != tt.want || found != tt.found {
				t.Errorf("%q in writes of %d: wrote %q, found %v; want %q, %v", tt.stream, chunk, out.String(), found, tt.want, tt.found)
			}
		}
	}
}

// Output streams: what cannot be the start of the marker is written at
// once, not held until the command ends (exec's output, logs -f).
func TestMarkerWriterStreams(t *testing.T) {
	var out bytes.Buffer
	m := &markerWriter{w: &out}
	m.Write([]byte("ready\n"))
	if out.String() != "ready\n" {
		t.Errorf("after a line the writer passed %q, want it whole", out.String())
	}
	m.Write([]byte("partial\x00stack"))
	if out.String() != "ready\npartial" {
		t.Errorf("the writer passed %q, want all but a possible marker start", out.String())
	}
	m.Write([]byte("x"))
	if out.String() != "ready\npartial\x00stackx" {
		t.Errorf("the writer passed %q once the marker could no longer start there", out.String())
	}
}
