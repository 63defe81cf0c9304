package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/ui"
)

// The app's secrets live in one file per host, HostLayout.SecretsFile
// (/etc/stackctl/<name>.env, 0600 root:root), which the slot unit loads
// last with EnvironmentFile=-. Values travel to the host inside a tar on
// the SSH session's stdin (writeHostFiles) and back on its stdout
// (readHostFiles): never on a command line, in a unit, a diff or output.

// envKeyRE is what an environment variable name may be: what a POSIX
// shell and systemd both accept.
var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedKeys are set by deploy itself for each slot: a secret of that
// name would override the slot's port.
var reservedKeys = map[string]string{
	"PORT":          "the slot's port (from app.port)",
	"HOST":          "the address the app listens on (" + AppHost + ")",
	"STACKCTL_SLOT": "the slot's name",
}

// SecretsMask is what `env list` shows in place of every value: the same
// for every value, so not even a value's length shows.
const SecretsMask = "••••••••"

// checkKey refuses a key that is not an environment variable name or that
// deploy sets itself; arg is the argument as the user typed it.
func checkKey(key, arg string) error {
	if !envKeyRE.MatchString(key) {
		return ui.Usagef("a key is letters, digits and _ and does not start with a digit (DATABASE_URL)",
			"%q: %q is not an environment variable name; nothing was changed", arg, key)
	}
	if what, ok := reservedKeys[key]; ok {
		return ui.Usagef("choose another name", "%q: stackctl sets %s itself: %s; nothing was changed", arg, key, what)
	}
	return nil
}

// ParseSetArgs reads the arguments of `stackctl env set`: KEY=VALUE, or a
// KEY alone, whose value the command then reads from a hidden prompt or
// stdin, so that it is never on a command line. It returns the values
// given and the keys left to read, in the order given. An argument that is
// not an environment variable name (before its '=', if any), a key deploy
// sets itself, or a value with a NUL byte is refused as a usage error
// naming the argument (never its value). A key given twice keeps its last
// form.
func ParseSetArgs(args []string) (set map[string]string, read []string, err error) {
	if len(args) == 0 {
		return nil, nil, ui.Usagef("stackctl env set KEY (asks for the value, or reads it from stdin), or KEY=VALUE", "env set needs at least one KEY")
	}
	set = map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			if !envKeyRE.MatchString(a) {
				// Maybe a value typed without its key: never shown.
				return nil, nil, ui.Usagef("name a key: env set KEY reads its value from a prompt or stdin; env set KEY=VALUE takes it from the command line",
					"an argument without '=' is not an environment variable name; nothing was changed")
			}
			if err := checkKey(a, a); err != nil {
				return nil, nil, err
			}
			delete(set, a)
			if !slices.Contains(read, a) {
				read = append(read, a)
			}
			continue
		}
		if err := checkKey(k, k+"=…"); err != nil {
			return nil, nil, err
		}
		if err := CheckSecretValue(k+"=…", v); err != nil {
			return nil, nil, err
		}
		set[k] = v
		read = slices.DeleteFunc(read, func(r string) bool { return r == k })
	}
	return set, read, nil
}

// CheckSecretValue refuses a value that an environment variable cannot
// hold (a NUL byte), as a usage error naming what (the argument or key,
// never the value).
func CheckSecretValue(what, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return ui.Usagef("remove the NUL byte: an environment variable cannot hold one", "%q: the value holds a NUL byte; nothing was changed", what)
	}
	return nil
}

// ParseUnsetArgs reads the keys of `stackctl env unset`.
func ParseUnsetArgs(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, ui.Usagef("stackctl env unset KEY…", "env unset needs at least one KEY")
	}
	var keys []string
	for _, a := range args {
		if strings.Contains(a, "=") {
			return nil, ui.Usagef("name only the key: stackctl env unset KEY", "%q: env unset takes keys, not KEY=VALUE; nothing was changed", strings.SplitN(a, "=", 2)[0]+"=…")
		}
		if err := checkKey(a, a); err != nil {
			return nil, err
		}
		keys = append(keys, a)
	}
	return keys, nil
}

// ParseEnvFile reads an environment file as systemd's EnvironmentFile=
// does for the forms stackctl writes and people type: KEY=VALUE lines,
// values plain, in single quotes, or in double quotes (where \\ \" \$ \`
// are escapes and newlines are part of the value); blank lines and
// comments are skipped.
func ParseEnvFile(data []byte) (map[string]string, error) {
	env := map[string]string{}
	s := string(data)
	i, line := 0, 1
	skipBlanks := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
	}
	toNextLine := func() {
		if nl := strings.IndexByte(s[i:], '\n'); nl >= 0 {
			i += nl + 1
			line++
		} else {
			i = len(s)
		}
	}
	for {
		skipBlanks()
		if i >= len(s) {
			return env, nil
		}
		if s[i] == '\n' || s[i] == '#' || s[i] == ';' {
			toNextLine()
			continue
		}
		eq := strings.IndexByte(s[i:], '=')
		nl := strings.IndexByte(s[i:], '\n')
		if eq < 0 || (nl >= 0 && nl < eq) {
			return nil, fmt.Errorf("line %d is not KEY=VALUE", line)
		}
		k := strings.TrimSpace(strings.TrimPrefix(s[i:i+eq], "export "))
		if !envKeyRE.MatchString(k) {
			return nil, fmt.Errorf("line %d: %q is not an environment variable name", line, k)
		}
		i += eq + 1
		skipBlanks()
		var v strings.Builder
		switch {
		case i < len(s) && s[i] == '"':
			val, next, err := doubleQuoted(s, i+1, &line)
			if err != nil {
				return nil, err
			}
			v.WriteString(val)
			i = next
		case i < len(s) && s[i] == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("line %d: a single quote is not closed", line)
			}
			val := s[i+1 : i+1+end]
			line += strings.Count(val, "\n")
			v.WriteString(val)
			i += end + 2
		default:
			end := len(s)
			if nl := strings.IndexByte(s[i:], '\n'); nl >= 0 {
				end = i + nl
			}
			v.WriteString(strings.TrimRight(s[i:end], " \t\r"))
			i = end
		}
		env[k] = v.String()
		// Whatever follows a closing quote on its line is ignored.
		toNextLine()
	}
}

// doubleQuoted reads the double-quoted value of an environment file that
// starts at s[i] (after the opening quote), as systemd reads it: \", \\,
// \$ and \` escapes, a backslash-newline continues the line. It returns
// the value and the index after the closing quote; line counts the lines.
func doubleQuoted(s string, i int, line *int) (string, int, error) {
	var v strings.Builder
	for {
		if i >= len(s) {
			return "", i, fmt.Errorf("line %d: a double quote is not closed", *line)
		}
		c := s[i]
		if c == '"' {
			return v.String(), i + 1, nil
		}
		if c == '\\' && i+1 < len(s) {
			switch n := s[i+1]; n {
			case '"', '\\', '$', '`':
				v.WriteByte(n)
			case '\n':
				*line++ // a continued line
			default:
				v.WriteByte('\\')
				v.WriteByte(n)
			}
			i += 2
			continue
		}
		if c == '\n' {
			*line++
		}
		v.WriteByte(c)
		i++
	}
}

// RenderEnvFile writes env as the secrets file of app name: sorted keys,
// every value double-quoted (EnvFileQuote).
func RenderEnvFile(name string, env map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("# secrets of " + name + ", written by stackctl env (0600 root): change them with 'stackctl env set|unset'\n")
	for _, k := range sortedKeys(env) {
		b.WriteString(k + "=" + EnvFileQuote(env[k]) + "\n")
	}
	return b.Bytes()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SecretsChange is what `stackctl env set` and `env unset` ask for.
type SecretsChange struct {
	// Set are the keys to give a value.
	Set map[string]string
	// Unset are the keys to remove.
	Unset []string
}

// secretsRun is one host's part of a secrets change.
type secretsRun struct {
	*hostRun
	before HostFile // the secrets file as it was
	after  HostFile // as this change writes it
	wrote  bool     // the host holds after
	// restarted: the app runs with the new secrets (through the switch).
	restarted bool
}

// readSecrets reads the host's secrets file (as root, over stdout).
func (r *hostRun) readSecrets(ctx context.Context) (HostFile, map[string]string, error) {
	files, err := readHostFiles(ctx, r.h, r.l.SecretsFile)
	if err != nil {
		return HostFile{}, nil, err
	}
	f := files[r.l.SecretsFile]
	env := map[string]string{}
	if f.Exists {
		if f.Link != "" {
			return f, nil, ui.Errorf("make it a regular file (0600 root)", "%s: %s is a symbolic link", r.h.Name(), r.l.SecretsFile)
		}
		if env, err = ParseEnvFile(f.Data); err != nil {
			return f, nil, ui.Errorf("fix it as root on the host ("+r.l.SecretsFile+")", "%s: %s cannot be read: %v", r.h.Name(), r.l.SecretsFile, err)
		}
	}
	return f, env, nil
}

// ChangeSecrets sets and unsets the app's secrets on every host, then
// restarts the app on each host that runs it through the two-slot switch
// (the idle slot starts the current release with the new secrets, nginx
// switches to it, the old slot stops: no failed request). When a host
// fails, every host that took the change gets its old secrets back (and
// its app restarted with them), so every host keeps one set of secrets.
func ChangeSecrets(ctx context.Context, o HostsOptions, ch SecretsChange) error {
	f, err := newFleet(o)
	if err != nil {
		return err
	}
	start := time.Now()
	runs := make([]*secretsRun, len(o.Hosts))
	hostRuns := make([]*hostRun, len(o.Hosts))
	for i, h := range o.Hosts {
		hostRuns[i] = &hostRun{fleet: f, h: h}
		runs[i] = &secretsRun{hostRun: hostRuns[i]}
	}
	// The lock first: nothing is read from a host another command changes.
	unlock, err := f.lockAll(ctx, hostRuns, "env")
	defer unlock()
	if err != nil {
		return err
	}
	for _, r := range runs {
		if err := r.probe(ctx); err != nil {
			return err
		}
		if err := r.recover(ctx); err != nil {
			return err
		}
	}
	changed, err := planSecrets(ctx, runs, ch)
	if err != nil {
		return err
	}
	what := describeChange(ch)
	if !changed {
		for _, r := range runs {
			r.say(r.h, "%s %s already as asked: nothing written, nothing restarted", f.p.Green("No changes:"), r.l.SecretsFile)
		}
		return nil
	}
	if err := f.applySecrets(ctx, runs, what); err != nil {
		if rerr := f.restoreSecrets(runs); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	fmt.Fprintf(f.Out, "\n%s %s's secrets on %s (%s) in %s.\n", f.p.Bold("Changed"), f.c.Name, secretHostNames(runs), what, since(start))
	return nil
}

// planSecrets reads each host's secrets and computes the file ch makes of
// them; it reports whether any host's file changes.
func planSecrets(ctx context.Context, runs []*secretsRun, ch SecretsChange) (bool, error) {
	changed := false
	for _, r := range runs {
		before, env, err := r.readSecrets(ctx)
		if err != nil {
			return false, err
		}
		for k, v := range ch.Set {
			env[k] = v
		}
		for _, k := range ch.Unset {
			delete(env, k)
		}
		r.before = before
		r.after = HostFile{Path: r.l.SecretsFile, Exists: true, Data: RenderEnvFile(r.c.Name, env), Mode: 0o600}
		if !before.Exists && len(env) == 0 {
			r.after = before
		}
		if !r.before.same(r.after) {
			changed = true
		}
	}
	return changed, nil
}

// applySecrets writes each host's new secrets file, then restarts the app
// where it runs through the two-slot switch (no failed request).
func (f *fleet) applySecrets(ctx context.Context, runs []*secretsRun, what string) error {
	for _, r := range runs {
		if r.before.same(r.after) {
			r.say(r.h, "%s already as asked", r.l.SecretsFile)
			continue
		}
		if err := writeHostFiles(ctx, r.h, r.l.StateDir, "", []HostFile{r.after}); err != nil {
			return fmt.Errorf("%s: write %s: %w", r.h.Name(), r.l.SecretsFile, err)
		}
		r.wrote = true
		r.say(r.h, "%s %s: %s", f.p.Cyan("✎"), r.l.SecretsFile, what)
	}
	for _, r := range runs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", r.h.Name(), err)
		}
		if !r.wrote {
			continue
		}
		if r.state.Current == "" || r.facts.Active[r.state.Slot] != "active" {
			r.say(r.h, "the app does not run here yet: the next deploy starts it with these secrets")
			continue
		}
		if err := r.switchTo(ctx, r.state.Current); err != nil {
			return err
		}
		r.restarted = true
	}
	return nil
}

// restoreSecrets puts the old secrets file back on every host that took
// the new one, and restarts the app on those already restarted, on a
// context of its own: Ctrl-C still restores.
func (f *fleet) restoreSecrets(runs []*secretsRun) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var errs []error
	for _, r := range runs {
		if !r.wrote {
			continue
		}
		if err := writeHostFiles(ctx, r.h, r.l.StateDir, "", []HostFile{r.before}); err != nil {
			errs = append(errs, fmt.Errorf("%s: restore %s: %w", r.h.Name(), r.l.SecretsFile, err))
			continue
		}
		r.wrote = false
		if r.restarted {
			if err := r.switchTo(ctx, r.state.Current); err != nil {
				errs = append(errs, fmt.Errorf("%s: restart with the old secrets: %w", r.h.Name(), err))
				continue
			}
			r.restarted = false
		}
		r.say(r.h, "%s the old secrets are back", f.p.Yellow("↩ undone:"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("restoring the old secrets failed: %w", errors.Join(errs...))
	}
	return nil
}

func describeChange(ch SecretsChange) string {
	var parts []string
	if len(ch.Set) > 0 {
		parts = append(parts, "set "+strings.Join(sortedKeys(ch.Set), ", "))
	}
	if len(ch.Unset) > 0 {
		parts = append(parts, "unset "+strings.Join(ch.Unset, ", "))
	}
	return strings.Join(parts, "; ")
}

func secretHostNames(runs []*secretsRun) string {
	names := make([]string, len(runs))
	for i, r := range runs {
		names[i] = r.h.Name()
	}
	return strings.Join(names, ", ")
}

// HostSecrets is the keys of one host's secrets (never their values).
type HostSecrets struct {
	Host string   `json:"host"`
	Keys []string `json:"keys"`
}

// ListSecrets reads the keys of every host's secrets. Values are read
// (the file is parsed on this machine) but never returned.
func ListSecrets(ctx context.Context, o HostsOptions) ([]HostSecrets, error) {
	f, err := newReadOnlyFleet(o)
	if err != nil {
		return nil, err
	}
	var out []HostSecrets
	for _, h := range o.Hosts {
		r := &hostRun{fleet: f, h: h}
		_, env, err := r.readSecrets(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, HostSecrets{Host: h.Name(), Keys: sortedKeys(env)})
	}
	return out, nil
}
