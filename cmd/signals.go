package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/stackctl/stackctl/internal/deploy"
)

// interruptSignals interrupt a command on hosts, all alike: Ctrl-C,
// SIGTERM (kill, systemd, CI) and SIGHUP (the terminal closed).
var interruptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// exitNow ends stackctl at the third interrupt (tests replace it).
var exitNow = os.Exit

// interruptible returns a context that the first interrupt cancels: a
// deploy or rollback then puts back what it changed on the hosts, through
// commands in process groups of their own (internal/host), so a second
// Ctrl-C only says the undo goes on. A third stops stackctl at once,
// saying what is left (deploy.Unfinished) and that the next command takes
// the hosts on from there. stop ends the watch.
func interruptible(ctx context.Context, errOut io.Writer) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan os.Signal, 3)
	signal.Notify(ch, interruptSignals...)
	done := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case sig := <-ch:
				if n == 1 {
					// Output may be a closed terminal or pipe from now on:
					// a write must fail, not end stackctl mid-undo.
					signal.Ignore(syscall.SIGPIPE)
					cancel()
				}
				if interruptMessage(errOut, sig, n) {
					exitNow(130)
				}
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// interruptMessage says what the n-th interrupt does, and whether it ends
// stackctl now.
func interruptMessage(w io.Writer, sig os.Signal, n int) bool {
	switch n {
	case 1:
		fmt.Fprintf(w, "\nstackctl: %s: stopping; what this command changed on the hosts is being put back (Ctrl-C twice more stops at once)\n", sig)
		return false
	case 2:
		fmt.Fprintf(w, "\nstackctl: %s: still putting the hosts back; its commands run on, a second Ctrl-C does not cut them. One more Ctrl-C stops stackctl at once\n", sig)
		return false
	}
	msg := "\nstackctl: stopped before the hosts were all put back.\n"
	if left := deploy.Unfinished(); len(left) > 0 {
		msg += "Left:\n  " + strings.Join(left, "\n  ") + "\n"
	}
	msg += "The next 'stackctl deploy' or 'stackctl rollback' finishes it: it goes on from what nginx serves on each host (the commands already sent still run to their end).\n"
	fmt.Fprint(w, msg)
	return true
}
