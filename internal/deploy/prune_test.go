package deploy

import (
	"reflect"
	"testing"
)

// The backups of releases no longer kept go, with the takeover's; those of
// kept releases, the lb's and anything of another shape stay; every
// temporary folder of an interrupted command goes.
func TestLeftovers(t *testing.T) {
	kept := map[string]bool{"20260102T000000Z-abcd1234": true, "20260103T000000Z": true}
	keep := func(id string) bool { return kept[id] }
	backups := []string{
		"20260101T000000Z", "20260101T000000Z-takeover", // pruned release
		"20260102T000000Z-abcd1234", "20260103T000000Z", // kept
		"20251231T000000Z.1",                       // an undone deploy's, never on disk
		"lb-20260101T000000Z", "notes", "keep.txt", // not stackctl's releases
	}
	state := []string{"state.json", "lock", "backups", ".stage-1767225600000000000", "stage-x"}
	releases := []string{"20260102T000000Z-abcd1234", "20260103T000000Z", ".20260104T000000Z.tmp", ".20260104T000000Z.have", ".20260104T000000Z.want", ".hidden", "x.tmp"}
	old, temps := leftovers(backups, state, releases, keep)
	if want := []string{"20260101T000000Z", "20260101T000000Z-takeover", "20251231T000000Z.1"}; !reflect.DeepEqual(old, want) {
		t.Errorf("old backups = %v, want %v", old, want)
	}
	if want := []string{".stage-1767225600000000000", ".20260104T000000Z.tmp", ".20260104T000000Z.have", ".20260104T000000Z.want"}; !reflect.DeepEqual(temps, want) {
		t.Errorf("temporary folders = %v, want %v", temps, want)
	}
}
