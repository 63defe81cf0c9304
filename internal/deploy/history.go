package deploy

// A host's history: which release ran when, so that "the previous release"
// is the one that ran before the current one (DEPLOY.md "Crash safety"),
// not the newest one on disk older than it. After R1, R2, R3, a rollback
// (to R2) and R4, the previous release is R2, never R3, the release rolled
// back as bad.

// maxHistory bounds the switches state.json remembers.
const maxHistory = 100

// recordSwitch notes that release id became current, after from (the
// release current before, "" for none). A state.json written before the
// history was recorded starts its history with from.
func (s *hostState) recordSwitch(from, id string) {
	if len(s.History) == 0 && from != "" && from != id {
		s.History = append(s.History, from)
	}
	if n := len(s.History); n == 0 || s.History[n-1] != id {
		s.History = append(s.History, id)
	}
	if n := len(s.History); n > maxHistory {
		s.History = append([]string(nil), s.History[n-maxHistory:]...)
	}
}

// forgetHistory removes release id from the history (a release the fleet
// refused: it served only until the rollout was undone), joining the runs
// of one release it leaves side by side.
func (s *hostState) forgetHistory(id string) {
	var kept []string
	for _, h := range s.History {
		if h != id && (len(kept) == 0 || kept[len(kept)-1] != h) {
			kept = append(kept, h)
		}
	}
	s.History = kept
}

// previousRelease is what a rollback with no release named goes back to:
// the newest release of history, other than current, that onDisk still
// has. A history with none (state.json written before histories were
// kept) falls back to the newest release on disk older than current
// (ids sort by time).
func previousRelease(history []string, current string, onDisk func(string) bool, ids []string) string {
	for i := len(history) - 1; i >= 0; i-- {
		if id := history[i]; id != current && onDisk(id) {
			return id
		}
	}
	best := ""
	for _, id := range ids {
		if id < current && id > best && onDisk(id) {
			best = id
		}
	}
	return best
}
