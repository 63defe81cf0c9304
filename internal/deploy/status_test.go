package deploy

import "testing"

// Status flags app hosts on different releases; a host with no release yet
// and the lb are not counted.
func TestFlagMixedReleases(t *testing.T) {
	one := []HostStatus{{Host: "web1", Release: "R2"}, {Host: "web2", Release: "R2"}, {Host: "lb1", Role: "lb"}}
	flagMixedReleases(one)
	for _, s := range one {
		if len(s.Problems) != 0 {
			t.Errorf("one release: %s has problems %v", s.Host, s.Problems)
		}
	}
	mixed := []HostStatus{{Host: "web1", Release: "R3"}, {Host: "web2", Release: "R2"}, {Host: "web3"}, {Host: "lb1", Role: "lb"}}
	flagMixedReleases(mixed)
	want := "the app hosts run different releases (web1 R3, web2 R2): 'stackctl deploy' puts every host on one"
	for _, s := range mixed[:2] {
		if len(s.Problems) != 1 || s.Problems[0] != want {
			t.Errorf("mixed: %s has problems %q, want %q", s.Host, s.Problems, want)
		}
	}
	for _, s := range mixed[2:] {
		if len(s.Problems) != 0 {
			t.Errorf("mixed: %s (no release, or the lb) got %v", s.Host, s.Problems)
		}
	}
}
