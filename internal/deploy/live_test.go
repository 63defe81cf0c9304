package deploy

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// screen is enough of a terminal to read what liveOutput draws: text,
// "\n" (as a pty's onlcr makes it: a new line at column 0), "\r", and the
// sequences CSI n A (up), CSI J (clear to the end of the screen), CSI K
// (clear to the end of the line) and CSI … m (colors, ignored).
type screen struct {
	rows [][]rune
	r, c int
}

func (s *screen) Write(b []byte) (int, error) {
	for i := 0; i < len(b); {
		switch b[i] {
		case '\n':
			s.r, s.c = s.r+1, 0
			i++
		case '\r':
			s.c = 0
			i++
		case 0x1b:
			j := i + 2 // after ESC [
			for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == ';') {
				j++
			}
			n, err := strconv.Atoi(string(b[i+2 : j]))
			if err != nil {
				n = 1
			}
			switch b[j] {
			case 'A':
				s.r = max(s.r-n, 0)
			case 'J':
				s.row()
				s.rows[s.r] = s.rows[s.r][:min(s.c, len(s.rows[s.r]))]
				s.rows = s.rows[:s.r+1]
			case 'K':
				s.row()
				s.rows[s.r] = s.rows[s.r][:min(s.c, len(s.rows[s.r]))]
			}
			i = j + 1
		default:
			ch, size := utf8.DecodeRune(b[i:])
			s.row()
			for len(s.rows[s.r]) < s.c {
				s.rows[s.r] = append(s.rows[s.r], ' ')
			}
			if s.c < len(s.rows[s.r]) {
				s.rows[s.r][s.c] = ch
			} else {
				s.rows[s.r] = append(s.rows[s.r], ch)
			}
			s.c++
			i += size
		}
	}
	return len(b), nil
}

func (s *screen) row() {
	for len(s.rows) <= s.r {
		s.rows = append(s.rows, nil)
	}
}

// lines returns the screen's rows, without the empty ones at the end.
func (s *screen) lines() []string {
	var out []string
	for _, r := range s.rows {
		out = append(out, string(r))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// Two hosts deploying at once each keep their live line under what is
// printed; a step's result replaces its host's line, whatever order the
// hosts finish in, and text written in pieces is never cut by the region.
func TestLiveOutputKeepsALinePerHost(t *testing.T) {
	var scr screen
	l := newLiveOutput(&scr)
	l.step("web1", "web1  … uploading")
	l.step("web2", "web2  … uploading")
	l.Write([]byte("built echo for linux/amd64 0.6s\n"))
	want := []string{"built echo for linux/amd64 0.6s", "web1  … uploading", "web2  … uploading"}
	if got := scr.lines(); !reflect.DeepEqual(got, want) {
		t.Fatalf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	l.say("web2", "web2  ↑ release r1 0.2s\n")
	l.step("web2", "web2  … starting slot b")
	l.say("web1", "web1  ↑ release r1 0.3s\n")
	l.Write([]byte("    then: nginx -t"))
	l.Write([]byte("; systemctl reload nginx\n"))
	want = []string{"built echo for linux/amd64 0.6s", "web2  ↑ release r1 0.2s", "web1  ↑ release r1 0.3s",
		"    then: nginx -t; systemctl reload nginx", "web2  … starting slot b"}
	if got := scr.lines(); !reflect.DeepEqual(got, want) {
		t.Fatalf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	l.step("web2", "web2  … "+strings.Repeat("long step ", 20))
	if got := scr.lines(); utf8.RuneCountInString(got[len(got)-1]) > maxLiveLine {
		t.Errorf("a live line is %d characters, wider than %d: %q", utf8.RuneCountInString(got[len(got)-1]), maxLiveLine, got[len(got)-1])
	}
	l.say("web2", "web2  ✓ healthy on slot b 0.4s\n")
	want = append(want[:4], "web2  ✓ healthy on slot b 0.4s")
	if got := scr.lines(); !reflect.DeepEqual(got, want) {
		t.Fatalf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Hosts stepping from their own goroutines, as a batch does, interleave
// whole lines only.
func TestLiveOutputConcurrentHosts(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	l := newLiveOutput(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}))
	var wg sync.WaitGroup
	for _, h := range []string{"web1", "web2", "web3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				l.step(h, h+"  … step "+strconv.Itoa(i))
				l.say(h, h+"  ✓ step "+strconv.Itoa(i)+"\n")
			}
		}()
	}
	wg.Wait()
	var scr screen
	scr.Write(buf.Bytes())
	got := scr.lines()
	if len(got) != 150 {
		t.Fatalf("%d lines on the screen, want 150:\n%s", len(got), strings.Join(got, "\n"))
	}
	next := map[string]int{}
	for _, line := range got {
		h, rest, _ := strings.Cut(line, "  ")
		if rest != "✓ step "+strconv.Itoa(next[h]) {
			t.Fatalf("line %q out of order or cut (want step %d of %s)", line, next[h], h)
		}
		next[h]++
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestTruncateCountsVisibleCharacters(t *testing.T) {
	colored := "\033[1mweb1      \033[0m  \033[2m… " + strings.Repeat("é", 100) + "\033[0m"
	got := truncate(colored, 20)
	if n := utf8.RuneCountInString(stripEscapes(got)); n != 20 || !strings.HasSuffix(stripEscapes(got), "…") {
		t.Errorf("truncate: %d visible characters in %q", n, got)
	}
	if short := "web1  … short"; truncate(short, 20) != short {
		t.Errorf("a short line was changed: %q", truncate(short, 20))
	}
}
