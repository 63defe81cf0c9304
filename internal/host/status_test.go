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
