package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
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
	if f.LB != nil {
		locks = append(locks, &hostRun{fleet: f, h: f.LB})
	}
	for _, h := range f.ownServiceHosts() {
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
		heldLocks.Store(r, fmt.Sprintf("%s: the deploy lock of %s stays (%s): the next command from this machine takes it over and finishes or reverts what was cut off; from elsewhere, remove it with %s", r.h.Name(), r.c.Name, r.l.Lock(), onHost(r.h, "sudo rm -r "+r.l.Lock())))
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
