//go:build unix

package deploy

import (
	"io/fs"
	"syscall"
)

// owner returns the uid and gid of a file, so a restore can give them back.
func owner(st fs.FileInfo) (uid, gid int, ok bool) {
	if sys, isStat := st.Sys().(*syscall.Stat_t); isStat {
		return int(sys.Uid), int(sys.Gid), true
	}
	return 0, 0, false
}
