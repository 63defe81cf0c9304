package proxy

import "testing"

// TestNormalizePath pins $uri as nginx computes it for location matching.
func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct {
		uri, want string
		ok        bool
	}{
		{"/", "/", true},
		{"/static/app.css", "/static/app.css", true},
		{"/static/app.css?v=3", "/static/app.css", true},
		{"/a#frag?x", "/a", true},
		{"/a./b..c/.d", "/a./b..c/.d", true},
		{"/a/", "/a/", true},
		{"//a///b//", "/a/b/", true},
		{"/a/./b", "/a/b", true},
		{"/a/.", "/a/", true},
		{"/a/b/..", "/a/", true},
		{"/a/b/../c", "/a/c", true},
		{"/a/..", "/", true},
		{"/..", "", false},
		{"/a/../..", "", false},
		{"/%2e%2e/", "", false},
		{"/%41%2fb", "/A/b", true},
		{"/a%2F..%2Fb", "/b", true},
		{"/%00", "", false},
		{"/%4", "", false},
		{"/%zz", "", false},
		{"/caf%C3%A9", "/caf\xc3\xa9", true},
		{"/...", "/...", true},
	} {
		got, ok := normalizePath([]byte(tc.uri))
		if got != tc.want || ok != tc.ok {
			t.Errorf("normalizePath(%q) = %q, %v; want %q, %v", tc.uri, got, ok, tc.want, tc.ok)
		}
	}
}

// BenchmarkNormalizePath is a static file's path: no escapes or dot
// segments, so no work beyond the string.
func BenchmarkNormalizePath(b *testing.B) {
	uri := []byte("/static/css/app.min.css?v=3")
	b.ReportAllocs()
	for b.Loop() {
		normalizePath(uri)
	}
}
