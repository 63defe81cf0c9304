package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/stackctl/stackctl/internal/ui"
)

// Rollback restores the files of the last single-unit deploy's backup,
// byte for byte, then checks and reloads nginx; the app is restarted by
// hand (systemd does not run the machines this engine deploys on).
func Rollback(ctx context.Context, o Options) (*Txn, error) {
	r, err := newRun(o)
	if err != nil {
		return nil, err
	}
	unlock, err := lock(r.stateDir())
	if err != nil {
		return nil, permissionFix(err)
	}
	defer unlock()
	txn, err := LastBackup(r.backupsDir())
	if errors.Is(err, ErrNoBackup) {
		return nil, ui.WithFix(fmt.Errorf("%w: no backup in %s", err, r.backupsDir()), "deploy first; a rollback restores the files the last deploy replaced")
	}
	if err != nil {
		return nil, err
	}
	if r.DryRun {
		r.say("Dry run: --rollback would restore from %s:", txn.Dir)
		for _, p := range txn.Paths() {
			r.say("  %s", p)
		}
		return txn, nil
	}
	if err := txn.Rollback(); err != nil {
		return nil, fmt.Errorf("restore %s: %w", txn.Dir, err)
	}
	r.say("%s restored from %s:", r.p.Green("rolled back:"), txn.Dir)
	for _, p := range txn.Paths() {
		r.say("  %s", p)
	}
	r.layout, err = DiscoverLayout(ctx, r.System, r.Root, r.c.Deploy.SitesDir)
	if err != nil {
		return txn, err
	}
	if err := r.nginxTest(ctx); err != nil {
		return txn, ui.WithFix(err, "the files are restored, but nginx rejects them; fix the configuration by hand")
	}
	r.say("%s systemd is not running here: restart the app yourself.", r.p.Yellow("note:"))
	r.reloadNginx(ctx)
	return txn, nil
}
