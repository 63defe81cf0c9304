// Package testutil holds small helpers shared by stackctl's tests: a buffer
// that collects a process's output while the test reads it, loopback port
// ranges for tests that need several consecutive ports, and a project's
// files written from a map or copied from testdata.
package testutil

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// SyncBuffer is a bytes.Buffer safe for concurrent use: one goroutine (or a
// child process's output copier) writes while the test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PortRange returns the first of n consecutive free ports on 127.0.0.1.
// It looks between 20000 and 32000, below Linux's ephemeral range, where
// the local ends of other connections (TIME_WAIT ones included) would
// make a port taken between the check and its use.
func PortRange(t testing.TB, n int) int {
	t.Helper()
	for range 200 {
		p := 20000 + rand.IntN(12000)
		ok := true
		for i := 0; ok && i < n; i++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+i))
			if ok = err == nil; ok {
				ln.Close()
			}
		}
		if ok {
			return p
		}
	}
	t.Fatalf("no %d consecutive free ports between 20000 and 32000", n)
	return 0
}

// WriteFiles creates files (slash-separated path → content) under dir,
// with the folders they need.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, s := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// CopyTree copies the folder src (a project in testdata) to dst, files
// with their permission bits.
func CopyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
