package deploy

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The sequence of the issue: R1, R2, R3, rollback, R4, rollback goes to
// R2 — the release that ran before R4 — not R3, the one rolled back as
// bad; and a rollback of a rollback goes back.
func TestPreviousFromHistory(t *testing.T) {
	disk := map[string]bool{}
	var s hostState
	onDisk := func(id string) bool { return disk[id] }
	ids := func() []string {
		var out []string
		for id := range disk {
			out = append(out, id)
		}
		return out
	}
	prev := func() string { return previousRelease(s.History, s.Current, onDisk, ids()) }
	switchTo := func(id string) {
		disk[id] = true
		s.recordSwitch(s.Current, id)
		s.Current = id
	}
	const r1, r2, r3, r4 = "20260101T000001Z", "20260101T000002Z", "20260101T000003Z", "20260101T000004Z"
	switchTo(r1)
	if p := prev(); p != "" {
		t.Errorf("after one release the previous is %q, want none", p)
	}
	switchTo(r2)
	switchTo(r3)
	if p := prev(); p != r2 {
		t.Errorf("after R1 R2 R3 the previous is %q, want R2", p)
	}
	switchTo(prev()) // rollback to R2
	if p := prev(); p != r3 {
		t.Errorf("after the rollback to R2 the previous is %q, want R3 (a rollback of the rollback goes back)", p)
	}
	switchTo(r4)
	if p := prev(); p != r2 {
		t.Errorf("after R1 R2 R3 rollback R4 the previous is %q, want R2 (R3 was rolled back as bad)", p)
	}
	// The previous one pruned: the one that ran before it.
	delete(disk, r2)
	if p := prev(); p != r3 {
		t.Errorf("with R2 pruned the previous is %q, want R3 (the newest of the history left on disk)", p)
	}
	disk[r2] = true

	// A refused release leaves the history: the host is back on R4 and its
	// previous is R2 again.
	const r5 = "20260101T000005Z"
	switchTo(r5)
	switchTo(r4) // the fleet's revert
	s.forgetHistory(r5)
	delete(disk, r5)
	if want := []string{r1, r2, r3, r2, r4}; !reflect.DeepEqual(s.History, want) {
		t.Errorf("history after a refused release = %v, want %v", s.History, want)
	}
	if p := prev(); p != r2 {
		t.Errorf("after a refused release the previous is %q, want R2", p)
	}
}

// A state.json written before histories were kept still reads, and its
// previous release is the newest on disk older than the current one; its
// first switch starts the history with the release it leaves.
func TestPreviousWithoutHistory(t *testing.T) {
	var s hostState
	old := `{"slot":"b","current":"20260101T000003Z","releases":[{"id":"20260101T000001Z"},{"id":"20260101T000002Z"},{"id":"20260101T000003Z"}]}`
	if err := json.Unmarshal([]byte(old), &s); err != nil {
		t.Fatal(err)
	}
	disk := map[string]bool{"20260101T000001Z": true, "20260101T000002Z": true, "20260101T000003Z": true}
	ids := []string{"20260101T000001Z", "20260101T000002Z", "20260101T000003Z"}
	onDisk := func(id string) bool { return disk[id] }
	if p := previousRelease(s.History, s.Current, onDisk, ids); p != "20260101T000002Z" {
		t.Errorf("previous of an old state.json = %q, want the newest older release", p)
	}
	s.recordSwitch(s.Current, "20260101T000002Z")
	s.Current = "20260101T000002Z"
	if want := []string{"20260101T000003Z", "20260101T000002Z"}; !reflect.DeepEqual(s.History, want) {
		t.Errorf("history after the first switch = %v, want %v", s.History, want)
	}
	if p := previousRelease(s.History, s.Current, onDisk, ids); p != "20260101T000003Z" {
		t.Errorf("after rolling an old state.json back, the previous is %q, want the release it left", p)
	}
	for i := 0; i < 3*maxHistory; i++ {
		s.recordSwitch(s.Current, ids[i%3])
		s.Current = ids[i%3]
	}
	if len(s.History) != maxHistory {
		t.Errorf("history holds %d switches, want at most %d", len(s.History), maxHistory)
	}
}
