//go:build !linux

package proxy

// folderFD is Linux's openat2 fast path; elsewhere os.Root serves.
type folderFD struct{}

func openFolderFD(string) *folderFD { return nil }

func (*folderFD) open(string, *staticFile) error { return errFastOpen }

func pread(int, []byte, int64) (int, error) { return 0, errFastOpen }

func closeFD(int) {}
