//go:build !unix

package doctor

import "os"

// writable creates and removes a temporary file in dir.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".stackctl-doctor-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
