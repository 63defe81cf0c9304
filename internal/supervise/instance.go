package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// process is one started program, the leader of a process group of its
// own: a copy of the app, or of one of [processes].
type process struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed
}

// instance is one running copy of the app.
type instance struct {
	*process
	gen     *generation
	replica int
	name    string
	port    int
	addr    string

	// Owned by the supervisor's goroutine.
	ready    bool
	stopping bool
}

// startInstance starts a copy of the app (see startProcess).
func startInstance(dir string, env, args []string, out io.Writer, tail *lineRing) (*instance, error) {
	p, err := startProcess(dir, env, args, out, tail)
	if err != nil {
		return nil, err
	}
	return &instance{process: p}, nil
}

// startProcess starts args in dir with env, in a process group of its own
// that dies with serve, its stdout and stderr going to out and, unless tail
// is nil, to tail.
func startProcess(dir string, env, args []string, out io.Writer, tail *lineRing) (*process, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	ownGroup(cmd)
	// The program writes into a pipe of ours rather than one os/exec
	// copies from: Wait then returns as soon as it exits, even if a
	// grandchild still holds the pipe.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{})}
	go func() {
		var rw *ringWriter
		w := out
		if tail != nil {
			rw = tail.writer()
			w = io.MultiWriter(out, rw)
		}
		io.Copy(w, pr)
		pr.Close()
		if rw != nil {
			rw.flush()
		}
		if f, ok := out.(interface{ Flush() error }); ok {
			f.Flush()
		}
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitStatus describes how the process ended: "exited with status 1",
// "ended: signal: killed".
func (p *process) exitStatus() string {
	st := p.cmd.ProcessState
	if st == nil {
		return fmt.Sprintf("exited: %v", p.waitErr)
	}
	if st.Exited() {
		return fmt.Sprintf("exited with status %d", st.ExitCode())
	}
	return "ended: " + st.String()
}

// stop stops the process and its whole process group: SIGTERM, then
// SIGKILL for whatever still runs after timeout. It waits until the group
// is gone and reports whether SIGKILL was needed.
func (p *process) stop(timeout time.Duration) (killed bool) {
	return stopGroup(p.pid, p.done, timeout)
}

// stopGroup sends SIGTERM to the process group pgid, waits up to timeout
// for its leader (leaderDone; nil when it already exited) and every other
// member to end, and sends SIGKILL to what is left.
func stopGroup(pgid int, leaderDone <-chan struct{}, timeout time.Duration) (killed bool) {
	if leaderDone == nil && !groupAlive(pgid) {
		return false
	}
	terminateGroup(pgid)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	if leaderDone != nil {
		select {
		case <-leaderDone:
		case <-deadline.C:
			killGroup(pgid)
			<-leaderDone
			killed = true
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for groupAlive(pgid) {
		select {
		case <-tick.C:
		case <-deadline.C:
			killGroup(pgid)
			return true
		}
	}
	return killed
}

// waitReady polls the copy until it answers: GET health with a 2xx or 3xx when
// health is set, else a TCP connection. It tells the supervisor when it is
// ready, and once when ReadyTimeout passes without that.
func (s *Supervisor) waitReady(in *instance, health string) {
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		Timeout:   2 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	probe := func() (bool, string) {
		if health == "" {
			c, err := net.DialTimeout("tcp", in.addr, 2*time.Second)
			if err != nil {
				return false, "connect: " + shortNetError(err)
			}
			c.Close()
			return true, "port " + fmt.Sprint(in.port) + " accepts connections"
		}
		resp, err := client.Get("http://" + in.addr + health)
		if err != nil {
			return false, "GET " + health + ": " + shortNetError(err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		how := fmt.Sprintf("GET %s %d", health, resp.StatusCode)
		// Any 2xx or 3xx, not followed, as deploy's health check.
		return resp.StatusCode >= 200 && resp.StatusCode < 400, how
	}
	timeout := time.NewTimer(s.opts.ReadyTimeout)
	defer timeout.Stop()
	interval := 10 * time.Millisecond
	for {
		ok, how := probe()
		if ok {
			took := time.Since(in.started)
			s.post(func() { s.ready(in, took, how) })
			return
		}
		select {
		case <-in.done:
			return
		case <-s.done:
			return
		case <-timeout.C:
			s.post(func() { s.notReady(in, how) })
		case <-time.After(interval):
			interval = min(interval*2, 250*time.Millisecond)
		}
	}
}

// shortNetError trims a dial error to its cause ("connection refused").
func shortNetError(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err.Error()
		}
		return oe.Err.Error()
	}
	return err.Error()
}

// runCombined runs args in dir with env, in its own process group, and
// returns its combined output; when ctx ends, the group is stopped.
func runCombined(ctx context.Context, dir string, env, args []string, stopTimeout time.Duration) ([]byte, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	ownGroup(cmd)
	var out bytes.Buffer
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, err
	}
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, pr)
		pr.Close()
		close(copied)
	}()
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		stopGroup(cmd.Process.Pid, done, stopTimeout)
		<-done
	}
	// Whatever the build left running in its group goes too.
	stopGroup(cmd.Process.Pid, nil, stopTimeout)
	<-copied
	return out.Bytes(), waitErr
}
