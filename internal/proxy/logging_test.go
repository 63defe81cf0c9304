package proxy

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/testutil"
)

func TestCombinedLog(t *testing.T) {
	up := startEcho(t)
	var buf testutil.SyncBuffer
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{up.addr}, AccessLog: &buf})
	_, body := rawExchange(t, addr, "GET /x?a=\"q\" HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/7.88.1\r\nReferer: http://r/\r\nAuthorization: Basic dXNlcjpwdw==\r\n\r\n")
	rawExchange(t, addr, "GET / HTTP/1.1\r\n\r\n")
	lines := waitLines(t, &buf, 2)
	// The first request is logged after its response was sent, so its
	// line may come second.
	if strings.Contains(lines[0], `" 400 `) {
		lines[0], lines[1] = lines[1], lines[0]
	}
	re := regexp.MustCompile(`^127\.0\.0\.1 - user \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /x\?a=\\x22q\\x22 HTTP/1\.1" 200 (\d+) "http://r/" "curl/7\.88\.1"$`)
	m := re.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("combined line %q", lines[0])
	}
	if m[1] != strconv.Itoa(len(body)) {
		t.Errorf("body_bytes_sent %s, body was %d", m[1], len(body))
	}
	if !regexp.MustCompile(`^127\.0\.0\.1 - - \[.*\] "GET / HTTP/1\.1" 400 \d+ "-" "-"$`).MatchString(lines[1]) {
		t.Errorf("400 line %q", lines[1])
	}
}

func TestJSONLog(t *testing.T) {
	up := startEcho(t)
	var buf testutil.SyncBuffer
	_, addr := startProxy(t, testConfig(t), Options{Upstreams: []string{up.addr}, AccessLog: &buf, LogFormat: "json"})
	rawExchange(t, addr, "GET /j HTTP/1.1\r\nHost: x\r\n\r\n")
	var l jsonLine
	if err := json.Unmarshal([]byte(waitLines(t, &buf, 1)[0]), &l); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if l.Status != 200 || l.URI != "/j" || l.Upstream != up.addr || l.Request != "GET /j HTTP/1.1" || l.RemoteAddr != "127.0.0.1" {
		t.Errorf("%+v", l)
	}
	if _, err := New(testConfig(t), Options{LogFormat: "xml"}); err == nil {
		t.Error("unknown log format accepted")
	}
}

// waitLines waits until the log holds n lines: a line is written after the
// response is sent, as nginx does.
func waitLines(t *testing.T, buf *testutil.SyncBuffer, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := strings.TrimSpace(buf.String())
		if lines := strings.Split(s, "\n"); s != "" && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("log has %q, want %d lines", s, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
