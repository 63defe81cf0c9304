//go:build linux

package supervise

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killedParentEnv makes the test binary act as serve in
// TestAppDiesWithKilledParent: start an app, print its pid, wait.
const killedParentEnv = "STACKCTL_TEST_KILLED_PARENT"

func runKilledParent() {
	in, err := startInstance(os.TempDir(), os.Environ(), []string{"sleep", "60"}, io.Discard, newLineRing(10))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(in.pid)
	time.Sleep(time.Minute)
	os.Exit(0)
}

// serve killed with SIGKILL cannot stop its app: the kernel's parent-death
// signal does, so nothing is left behind.
func TestAppDiesWithKilledParent(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killedParentEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	var pid int
	select {
	case l := <-line:
		if pid, err = strconv.Atoi(l); err != nil {
			t.Fatalf("the parent said %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the parent did not start its app")
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if !running(pid) {
		t.Fatalf("app %d is not running", pid)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitGone(t, pid)
}
