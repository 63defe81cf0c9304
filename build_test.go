package main

import (
	"os"
	"os/exec"
	"testing"
)

// DESIGN.md: Linux first, macOS builds and works, Windows builds (process
// groups behind build tags). Raw socket I/O and process groups are
// Unix-only code, so a cross build is what keeps the other two honest.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross builds take a while; skipped with -short")
	}
	for _, goos := range []string{"darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			cmd := exec.Command("go", "build", "-o", os.DevNull, "./...")
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOOS=%s go build ./...: %v\n%s", goos, err, out)
			}
		})
	}
}
