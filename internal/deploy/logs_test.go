package deploy

import (
	"strings"
	"testing"
	"time"
)

// What an app logs reaches the terminal with its escape sequences and
// other controls made visible, as journalctl -o json gives them: a string,
// or an array of bytes for a message that is not UTF-8.
func TestLogLinesShowControls(t *testing.T) {
	journal := `{"MESSAGE":"\u001b[2J\u001b[31mred\u001b[0m \u001b]0;title\u0007 ok — été","_SYSTEMD_UNIT":"myapp@a.service","__REALTIME_TIMESTAMP":"1764806400000000"}
{"MESSAGE":[27,91,49,109,98,111,108,100,255,10],"_SYSTEMD_UNIT":"myapp@b.service","__REALTIME_TIMESTAMP":"1764806401000000"}
{"MESSAGE":"tab\there\n","UNIT":"myapp@a\u001b[8m.service","__REALTIME_TIMESTAMP":"1764806402000000"}
`
	lines := parseJournal("web1", strings.NewReader(journal), nil)
	want := []string{
		`Dec 04 00:00:00 myapp@a: \x1b[2J\x1b[31mred\x1b[0m \x1b]0;title\x07 ok — été`,
		`Dec 04 00:00:01 myapp@b: \x1b[1mbold\xff`,
		"Dec 04 00:00:02 myapp@a\\x1b[8m: tab\there",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(lines), len(want), lines)
	}
	for i, l := range lines {
		got := formatLogLine(l, time.UTC)
		if got != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, got, want[i])
		}
		if strings.ContainsAny(got, "\x1b\x07\r") {
			t.Errorf("line %d keeps a control character: %q", i, got)
		}
	}
}
