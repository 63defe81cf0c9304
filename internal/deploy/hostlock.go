package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/ui"
)

// errLockHeld is what a lock another command holds is (errors.Is).
var errLockHeld = errors.New("the deploy lock is held")

// lockHeld is the error of a lock another command holds: its message
// names the holder; errors.Is finds errLockHeld in it.
type lockHeld struct{ error }

func (lockHeld) Is(target error) bool { return target == errLockHeld }

// lockPoll is how often a command waiting for a lock (--lock-wait) tries
// again.
var lockPoll = time.Second

// lockAll takes the deploy lock of every host, then of the lb and of the
// services' hosts of their own, before
// anything is read from them (DEPLOY.md "Crash safety"): two commands
// never interleave. A lock another command holds is waited for, at most
// LockWait, else the command stops naming the holder. unlock releases the
// locks taken, also after an error. A dry run takes none.
func (f *fleet) lockAll(ctx context.Context, runs []*hostRun, what string) (unlock func(), err error) {
	locks := append([]*hostRun(nil), runs...)
	for _, h := range f.lockedHosts()[len(f.Hosts):] {
		locks = append(locks, &hostRun{fleet: f, h: h})
	}
	unlock = func() {
		for i := len(locks) - 1; i >= 0; i-- {
			locks[i].unlock()
			if !locks[i].locked {
				heldLocks.Delete(locks[i])
			}
		}
	}
	if f.DryRun {
		return func() {}, nil
	}
	for _, r := range locks {
		if err := r.lockWaiting(ctx, what); err != nil {
			return unlock, err
		}
		heldLocks.Store(r, fmt.Sprintf("%s: the deploy lock of %s stays (%s): the next command from this machine takes it over and finishes or reverts what was cut off; from elsewhere, remove it with 'stackctl unlock'", r.h.Name(), r.c.Name, r.l.Lock()))
	}
	return unlock, nil
}

// heldLocks are the locks this process holds (*hostRun → what to say).
var heldLocks sync.Map

// Unfinished says, a line per host, what a command stopped at once
// (a third Ctrl-C, os.Exit) leaves behind: the locks it holds, with how
// to remove each. Empty when it holds none.
func Unfinished() []string {
	var out []string
	heldLocks.Range(func(_, v any) bool {
		out = append(out, v.(string))
		return true
	})
	sort.Strings(out)
	return out
}

// lockWaiting takes the host's lock; while another command holds it, it
// tries again every lockPoll, for at most LockWait, saying once whom it
// waits for.
func (r *hostRun) lockWaiting(ctx context.Context, what string) error {
	deadline := time.Now().Add(r.LockWait)
	said := false
	for {
		err := r.lock(ctx, what)
		if err == nil || !errors.Is(err, errLockHeld) || !time.Now().Before(deadline) {
			if err != nil && said {
				err = fmt.Errorf("after waiting %s (--lock-wait): %w", r.LockWait, err)
			}
			return err
		}
		if !said {
			r.say(r.h, "%s waiting up to %s for the deploy lock: %v", r.p.Yellow("…"), r.LockWait, errors.Unwrap(err))
			said = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: interrupted while waiting for the deploy lock: %w", r.h.Name(), ctx.Err())
		case <-time.After(min(lockPoll, time.Until(deadline))):
		}
	}
}

// LockInfo is a deploy lock found on a host: who took it, when, for what.
type LockInfo struct {
	// Host is the host the lock is on.
	Host string `json:"host"`
	// By is the user@machine that took it.
	By string `json:"by"`
	// Since is when, RFC 3339.
	Since string `json:"since"`
	// Command is what it was taken for: deploy, rollback, env set…
	Command string `json:"command"`
	// PID is the taking process's id on its machine.
	PID int `json:"pid"`
}

// readLockScript prints the lock record in folder $1, or nothing when it
// is free.
const readLockScript = `[ -d "$1" ] || exit 0
cat "$1/info" 2>/dev/null || echo '{}'
`

// Locks lists the deploy locks held on the hosts and the lb.
func Locks(ctx context.Context, o HostsOptions) ([]LockInfo, error) {
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return nil, err
	}
	l := NewHostLayout(f.c)
	var list []LockInfo
	for _, h := range f.lockedHosts() {
		out, err := host.Output(ctx, h, true, "sh", "-c", readLockScript, "stackctl", l.Lock())
		if err != nil {
			return nil, err
		}
		if out = strings.TrimSpace(out); out == "" {
			continue
		}
		li := LockInfo{Host: h.Name()}
		json.Unmarshal([]byte(out), &li)
		list = append(list, li)
	}
	return list, nil
}

// lockedHosts are the hosts lockAll locks: the app hosts, the lb and the
// services' hosts of their own.
func (f *fleet) lockedHosts() []host.Host {
	hs := append([]host.Host(nil), f.Hosts...)
	if f.LB != nil {
		hs = append(hs, f.LB)
	}
	return append(hs, f.ownServiceHosts()...)
}

// ReleaseLocks removes the deploy locks that Locks lists — the way out of
// a lock left by a command killed on another machine, whose process this
// machine cannot look for (`kamal lock release`). A lock whose command
// still runs on this machine is refused: nothing is removed. What the
// killed command left half done stays recorded (the journal) and the next
// deploy or rollback finishes or reverts it.
func ReleaseLocks(ctx context.Context, o HostsOptions, list []LockInfo) error {
	for _, li := range list {
		if liveHolder(li.By, li.PID) {
			return ui.WithFix(fmt.Errorf("%s: the deploy lock is held by %s (pid %d, %s), which still runs on this machine: nothing was removed", li.Host, li.By, li.PID, orUnknown(li.Command)),
				"wait for it to finish, or stop it (Ctrl-C reverts what it did)")
		}
	}
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return err
	}
	for _, h := range f.lockedHosts() {
		for _, li := range list {
			if li.Host != h.Name() {
				continue
			}
			if _, err := host.Output(ctx, h, true, "rm", "-rf", "--", f.l.Lock()); err != nil {
				return err
			}
		}
	}
	return nil
}
