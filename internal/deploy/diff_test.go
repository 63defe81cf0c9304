package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// UnifiedDiff's hunks match GNU diff -u line for line (headers aside).
func TestUnifiedDiffMatchesGNUDiff(t *testing.T) {
	diffBin, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("GNU diff is not installed (apt-get install diffutils)")
	}
	lines := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(f(i) + "\n")
		}
		return b.String()
	}
	base := lines(40, func(i int) string { return "line " + string(rune('a'+i%26)) + strings.Repeat("x", i%3) })
	cases := map[string][2]string{
		"one change":        {base, strings.Replace(base, "line c\n", "line C\n", 1)},
		"two hunks":         {base, strings.Replace(strings.Replace(base, "line b\n", "B\n", 1), "line nxx\n", "", 1)},
		"close changes":     {base, strings.Replace(strings.Replace(base, "line e\n", "E\n", 1), "line jx\n", "J\n", 1)},
		"from nothing":      {"", "a\nb\n"},
		"to nothing":        {"a\nb\n", ""},
		"append at end":     {"a\nb\n", "a\nb\nc\n"},
		"no final newline":  {"a\nb", "a\nc"},
		"insert at start":   {"b\nc\n", "a\nb\nc\n"},
		"all lines changed": {"a\nb\nc\n", "x\ny\n"},
	}
	dir := t.TempDir()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			os.WriteFile(a, []byte(c[0]), 0o644)
			os.WriteFile(b, []byte(c[1]), 0o644)
			out, _ := exec.Command(diffBin, "-u", a, b).Output()
			want := dropHeaders(string(out))
			got := dropHeaders(UnifiedDiff("a", "b", []byte(c[0]), []byte(c[1])))
			if got != want {
				t.Errorf("UnifiedDiff:\n%s\nGNU diff -u:\n%s", got, want)
			}
		})
	}
	if d := UnifiedDiff("a", "b", []byte("same\n"), []byte("same\n")); d != "" {
		t.Errorf("equal inputs: %q, want empty", d)
	}
	if d := UnifiedDiff("a", "b", []byte{0, 1}, []byte{0, 2}); !strings.Contains(d, "binary content differs (2 bytes -> 2 bytes)") {
		t.Errorf("binary inputs: %q", d)
	}
}

func dropHeaders(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
