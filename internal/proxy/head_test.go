package proxy

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendHTTPDate checks the hand-written formatter against
// time.AppendFormat over dates from year 1 to 10000, in every zone it may
// be given.
func TestAppendHTTPDate(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("east", 14*3600), time.FixedZone("west", -12*3600)}
	r := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(10000, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	for i := 0; i < 100000; i++ {
		tm := time.Unix(lo+r.Int64N(hi-lo), r.Int64N(1e9)).In(zones[i%len(zones)])
		want := tm.UTC().AppendFormat(nil, "Mon, 02 Jan 2006 15:04:05 GMT")
		if got := appendHTTPDate(nil, tm); string(got) != string(want) {
			t.Fatalf("%v: got %q, want %q", tm, got, want)
		}
	}
}

func BenchmarkAppendHTTPDate(b *testing.B) {
	buf := make([]byte, 0, 64)
	now := time.Now()
	for b.Loop() {
		buf = appendHTTPDate(buf[:0], now)
	}
}
