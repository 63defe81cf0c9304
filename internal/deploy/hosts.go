package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/internal/host"
	"github.com/stackctl/stackctl/internal/nginx"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// HostsOptions are the inputs of a deploy, rollback or listing on servers.
type HostsOptions struct {
	// Config is the validated project, flags already applied.
	Config *stack.Config
	// Hosts are the connected servers, in rollout order.
	Hosts []host.Host
	// DryRun prints what would change on each host and changes nothing.
	DryRun bool
	// Out gets progress and the summary; Colors paints it.
	Out    io.Writer
	Colors *ui.Palette
	// RenderSite renders the nginx site of a Config (internal/nginx.Render).
	RenderSite func(c *stack.Config, o SiteOptions) ([]byte, error)
	// HealthTimeout bounds the wait for a new slot's health; 0 means 60s.
	HealthTimeout time.Duration
	// DrainTimeout bounds the wait for nginx's old workers after the
	// switch; 0 means 60s (nginx's own send and read timeouts).
	DrainTimeout time.Duration
	// By names who deploys ("alice@laptop"); empty: this user and machine.
	By string
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Live shows each long step as a line that the step's result replaces
	// (Out is a terminal).
	Live bool
	// LB, when set, is the load-balancer host: it runs only nginx, with an
	// upstream over every app host (DEPLOY.md "Several hosts").
	LB host.Host
	// ServiceHosts are the connected hosts of their own that [services]
	// run on (stack.Config.ServiceHosts), by destination as written there:
	// "postgres = { host = "db1" }" is ServiceHosts["db1"].
	ServiceHosts map[string]host.Host
	// LockWait is how long deploy and rollback wait for a host's lock that
	// another command holds before they stop (--lock-wait); 0: not at all.
	LockWait time.Duration
}

// ReleaseInfo is one release in a host's history.
type ReleaseInfo struct {
	ID         string    `json:"id"`
	DeployedAt time.Time `json:"deployed_at"`
	By         string    `json:"by"`
	Commit     string    `json:"commit,omitempty"`
	// OnDisk is false once the release was pruned (listing only).
	OnDisk bool `json:"-"`
	// Current marks the release taking traffic (listing only).
	Current bool `json:"-"`
}

// hostState is state.json on a host: which slot takes traffic and the
// releases deployed.
type hostState struct {
	Slot     string        `json:"slot"`
	Current  string        `json:"current"`
	Releases []ReleaseInfo `json:"releases"`
	// History is the releases that became current, oldest first, one
	// entry per switch (history.go); absent in older state.json files.
	History []string `json:"history,omitempty"`
}

func (s *hostState) find(id string) *ReleaseInfo {
	for i := range s.Releases {
		if s.Releases[i].ID == id {
			return &s.Releases[i]
		}
	}
	return nil
}

// hostFacts are what the probe found on a host.
type hostFacts struct {
	Arch, NginxVersion       string
	NProc                    int
	Systemd, Venv, Bash      bool
	Nginx                    bool
	DebianSites, ConfD, Cert bool
	Active                   map[string]string // slot → systemctl is-active
	Busy                     map[string]bool   // slot → something listens on its port
	OnDisk                   map[string]bool   // release ids present
	// SlotLink is where each slot's link points ("../releases/<id>").
	SlotLink map[string]string
	// Serving is the address nginx's upstream include sends requests to
	// ("127.0.0.1:5000"); "" when there is no include yet.
	Serving string
}

var releaseIDRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z(-[0-9a-f]{4,40})?(\.[0-9]+)?$`)

// hostRun is one host's part of a deploy.
type hostRun struct {
	*fleet
	h       host.Host
	facts   hostFacts
	state   hostState
	oldSums map[string]string
	// pending is true when the host holds the record of a change a cut-off
	// command left (journal.go): the next command converges it first.
	pending bool
	// oldModes are the current release's file modes; nil when it has no
	// ModesName (made by an older stackctl): unknown.
	oldModes map[string]fs.FileMode

	bundle  *Bundle
	changed []AppFile
	bytes   int
	reuse   bool // the virtualenv of the base release is reused

	want    []HostFile          // the system files as this deploy writes them
	before  map[string]HostFile // what they hold now
	touched []HostFile          // the previous state of the files written
	unitNew bool
	// trusted are the lb's addresses as this host sees them (realip);
	// lbAddr is this host's address as the lb reaches it.
	trusted []string
	lbAddr  string

	id               string
	oldSlot, newSlot string
	// ranBefore is the release the host was current on before this
	// command switched it: what revert goes back to.
	ranBefore  string
	prepared   bool // the release folder exists
	slotBefore HostFile
	switched   bool
	locked     bool
}

// fleet is one command over every host.
type fleet struct {
	HostsOptions
	c      *stack.Config
	p      *ui.Palette
	l      HostLayout
	by     string
	commit string // short commit, "" outside git
	clean  bool   // the git tree has no changes
	outMu  sync.Mutex
	// live is Out with a live line per busy host (Live: Out is a
	// terminal); nil otherwise.
	live *liveOutput
	// readOnly is set by the commands that only read (status, releases,
	// env list, exec, logs), whose Out is their result: they say nothing
	// of their own there.
	readOnly bool
}

// newReadOnlyFleet is newFleet for a command that only reads.
func newReadOnlyFleet(o HostsOptions) (*fleet, error) {
	f, err := newFleet(o)
	if f != nil {
		f.readOnly = true
	}
	return f, err
}

func newFleet(o HostsOptions) (*fleet, error) {
	if o.Config == nil || len(o.Hosts) == 0 {
		return nil, errors.New("deploy: no config or no hosts")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Colors == nil {
		o.Colors = ui.NewPalette(false)
	}
	if o.HealthTimeout == 0 {
		o.HealthTimeout = 60 * time.Second
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &fleet{HostsOptions: o, c: o.Config, p: o.Colors, l: NewHostLayout(o.Config)}
	if err := f.checkServiceHosts(); err != nil {
		return nil, err
	}
	if o.Live {
		f.live = newLiveOutput(o.Out)
		f.Out = f.live // everything printed lands above the live lines
	}
	f.by = o.By
	if f.by == "" {
		f.by = whoami()
	}
	f.commit, f.clean = gitCommit(o.Config.Dir())
	return f, nil
}

// whoami names who deploys: the user (the one who ran sudo, under sudo)
// and this machine.
func whoami() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if su := os.Getenv("SUDO_USER"); su != "" && os.Geteuid() == 0 {
		name = su
	}
	hn, _ := os.Hostname()
	return name + "@" + hn
}

// gitCommit returns the short commit of the project's git tree and whether
// the tree is clean ("" when it is not a git tree).
func gitCommit(dir string) (string, bool) {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short=8", "HEAD").Output()
	if err != nil {
		return "", false
	}
	commit := strings.TrimSpace(string(out))
	st, err := exec.Command("git", "-C", dir, "status", "--porcelain").Output()
	return commit, err == nil && len(bytes.TrimSpace(st)) == 0
}

func (f *fleet) say(h host.Host, format string, args ...any) {
	line := f.p.Bold(fmt.Sprintf("%-10s", h.Name())) + "  " + fmt.Sprintf(format, args...) + "\n"
	if f.live != nil {
		f.live.say(h.Name(), line)
		return
	}
	f.outMu.Lock()
	defer f.outMu.Unlock()
	io.WriteString(f.Out, line)
}

// step shows what a host is doing now, on a terminal only, as the host's
// line in the live region: the next line said for the host replaces it.
func (f *fleet) step(h host.Host, format string, args ...any) {
	if f.live != nil {
		f.live.step(h.Name(), f.p.Bold(fmt.Sprintf("%-10s", h.Name()))+"  "+f.p.Faint("… "+fmt.Sprintf(format, args...)))
	}
}

func since(t time.Time) string { return fmt.Sprintf("%.1fs", time.Since(t).Seconds()) }

// probeHost runs probeScript on h (as root) for the project in appDir with
// the given service, the TLS certificate cert ("" for none), the upstream
// include ("" for none) and the slots' ports (none: not checked).
func probeHost(ctx context.Context, h host.Host, appDir, service, cert, upstream string, ports ...int) (hostFacts, error) {
	f := hostFacts{Active: map[string]string{}, Busy: map[string]bool{}, OnDisk: map[string]bool{}, SlotLink: map[string]string{}}
	var out bytes.Buffer
	pa, pb := "", ""
	if len(ports) == 2 {
		pa, pb = strconv.Itoa(ports[0]), strconv.Itoa(ports[1])
	}
	if err := host.Script(ctx, h, true, probeScript, nil, &out, appDir, service, cert, pa, pb, upstream); err != nil {
		return f, err
	}
	for _, line := range strings.Split(out.String(), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch {
		case k == "arch":
			f.Arch = v
		case k == "nproc":
			f.NProc, _ = strconv.Atoi(v)
		case k == "systemd":
			f.Systemd = true
		case k == "nginx":
			f.Nginx = true
			f.NginxVersion = v
			if v == "" {
				f.NginxVersion = nginx.DefaultVersion
			}
		case k == "venv":
			f.Venv = true
		case k == "bash":
			f.Bash = true
		case k == "debian_sites":
			f.DebianSites = true
		case k == "confd":
			f.ConfD = true
		case k == "cert":
			f.Cert = true
		case strings.HasPrefix(k, "active_"):
			f.Active[strings.TrimPrefix(k, "active_")] = v
		case strings.HasPrefix(k, "busy_"):
			f.Busy[strings.TrimPrefix(k, "busy_")] = true
		case k == "release":
			f.OnDisk[v] = true
		case strings.HasPrefix(k, "link_"):
			f.SlotLink[strings.TrimPrefix(k, "link_")] = v
		case k == "serving":
			f.Serving = v
		}
	}
	return f, nil
}

// probe reads the host's facts and state, and says what it lacks.
func (r *hostRun) probe(ctx context.Context) error {
	cert := ""
	if r.c.Nginx.TLS.Enabled {
		cert = r.c.CertPath()
	}
	f, err := probeHost(ctx, r.h, r.l.AppDir, r.l.Service, cert, r.l.UpstreamFile(), SlotPort(r.c, "a"), SlotPort(r.c, "b"))
	if err != nil {
		return err
	}
	var missing, pkgs []string
	if !f.Systemd {
		missing, pkgs = append(missing, "systemd (it is not PID 1)"), append(pkgs, "systemd-sysv")
	}
	if !f.Nginx {
		missing, pkgs = append(missing, "nginx"), append(pkgs, "nginx")
	}
	if !f.Bash {
		missing, pkgs = append(missing, "bash"), append(pkgs, "bash")
	}
	if r.bundlePython() && !f.Venv {
		missing, pkgs = append(missing, "python3-venv"), append(pkgs, "python3-venv")
	}
	if len(missing) > 0 {
		return ui.WithFix(fmt.Errorf("%s lacks %s; nothing was changed", r.h.Name(), strings.Join(missing, ", ")),
			onWhere(r.h)+": apt-get install "+strings.Join(pkgs, " "))
	}
	r.facts = f
	data, err := readHostFiles(ctx, r.h, r.l.StateFile(), path.Join(r.l.Current(), ManifestName), path.Join(r.l.Current(), ModesName), r.l.Journal())
	if err != nil {
		return err
	}
	r.pending = data[r.l.Journal()].Exists
	if sf := data[r.l.StateFile()]; sf.Exists {
		if err := json.Unmarshal(sf.Data, &r.state); err != nil {
			return ui.WithFix(fmt.Errorf("%s: %s is not valid: %w", r.h.Name(), r.l.StateFile(), err), "restore it from a backup or remove it (the next deploy starts a new history)")
		}
	}
	if r.state.Slot != "a" && r.state.Slot != "b" {
		r.state.Slot = ""
	}
	r.followNginx()
	r.oldSums = ParseManifest(data[path.Join(r.l.Current(), ManifestName)].Data)
	if m := data[path.Join(r.l.Current(), ModesName)]; m.Exists {
		r.oldModes = ParseModes(m.Data)
	}
	return nil
}

// followNginx makes the slot nginx sends requests to the serving slot,
// whatever state.json says: a command cut off between its switch and its
// last step (a dropped connection) leaves state.json behind, and starting
// the next release in the slot it names as idle would restart the one
// that serves.
func (r *hostRun) followNginx() {
	serving := ""
	for _, slot := range []string{"a", "b"} {
		if r.facts.Serving == "127.0.0.1:"+strconv.Itoa(SlotPort(r.c, slot)) {
			serving = slot
		}
	}
	if serving == "" || serving == r.state.Slot {
		return
	}
	id := path.Base(r.facts.SlotLink[serving])
	if !releaseIDRE.MatchString(id) || !r.facts.OnDisk[id] {
		return
	}
	if !r.readOnly {
		r.say(r.h, "%s nginx serves slot %s (release %s) where %s says slot %q (release %q): an earlier command was cut off after its switch; going on from what nginx serves",
			r.p.Yellow("!"), serving, id, r.l.StateFile(), r.state.Slot, r.state.Current)
	}
	r.state.Slot, r.state.Current = serving, id
}

func (r *hostRun) bundlePython() bool { return r.c.App.Template != "go" }

// layoutSites returns the site file and its link ("" when none).
func (r *hostRun) layoutSites() (string, string) {
	name := r.c.Name + ".conf"
	switch {
	case r.c.Deploy.SitesDir != "":
		return path.Join(r.c.Deploy.SitesDir, name), ""
	case r.facts.DebianSites:
		return path.Join("/etc/nginx/sites-available", name), path.Join("/etc/nginx/sites-enabled", name)
	default:
		return path.Join("/etc/nginx/conf.d", name), ""
	}
}

// plan computes the system files of this host, what they hold now, and
// whether the release changes anything.
func (r *hostRun) plan(ctx context.Context, b *Bundle) error {
	r.bundle = b
	r.changed, r.bytes = b.Changed(r.oldSums, r.oldModes)
	unit, err := RenderSlotUnit(r.c, 2*max(r.facts.NProc, 1)+1)
	if err != nil {
		return err
	}
	appEnv, err := AppEnvFile(r.c)
	if err != nil {
		return err
	}
	site, err := r.renderSite()
	if err != nil {
		return err
	}
	// The upstream file keeps pointing at the serving slot until the switch.
	upSlot := r.state.Slot
	if upSlot == "" {
		upSlot = "a"
	}
	up, err := r.upstreamFile(upSlot)
	if err != nil {
		return err
	}
	sitePath, link := r.layoutSites()
	r.want = []HostFile{
		{Path: r.l.UnitPath(), Exists: true, Data: unit, Mode: 0o644},
		{Path: r.l.SlotEnv("a"), Exists: true, Data: SlotEnvFile(r.c, "a"), Mode: 0o644},
		{Path: r.l.SlotEnv("b"), Exists: true, Data: SlotEnvFile(r.c, "b"), Mode: 0o644},
		{Path: r.l.AppEnv(), Exists: true, Data: appEnv, Mode: 0o600},
		{Path: sitePath, Exists: true, Data: site, Mode: 0o644},
	}
	if r.state.Slot == "" {
		r.want = append(r.want, HostFile{Path: r.l.UpstreamFile(), Exists: true, Data: up, Mode: 0o644})
	}
	// The release file names what serves now (the switch moves it): on a
	// host a deploy of an earlier stackctl set up it is written here, for
	// the site that includes it.
	rel, err := r.releaseFile(r.state.Current)
	if err != nil {
		return err
	}
	r.want = append(r.want, HostFile{Path: r.l.ReleaseFile(), Exists: true, Data: rel, Mode: 0o644})
	if link != "" {
		r.want = append(r.want, HostFile{Path: link, Exists: true, Link: sitePath})
	}
	procs, err := processFiles(r.c, r.l)
	if err != nil {
		return err
	}
	r.want = append(r.want, procs...)
	paths := make([]string, len(r.want))
	for i, w := range r.want {
		paths[i] = w.Path
	}
	r.before, err = readHostFiles(ctx, r.h, paths...)
	if err != nil {
		return err
	}
	r.unitNew = false
	for _, w := range r.filesChanged() {
		r.unitNew = r.unitNew || path.Dir(w.Path) == unitDir
	}
	return nil
}

// renderSite renders the host's nginx site: HTTPS when TLS is on and the
// certificate is there, else HTTP (with certbot's webroot challenge when
// TLS is wanted); behind the lb, HTTP trusting the lb's forwarded headers.
func (r *hostRun) renderSite() ([]byte, error) {
	sc := *r.c
	sc.Nginx.AppDir = r.l.Current()
	tlsOn := r.c.Nginx.TLS.Enabled && r.facts.Cert
	so := SiteOptions{NginxVersion: r.facts.NginxVersion, UpstreamInclude: r.l.UpstreamFile(), ReleaseInclude: r.l.ReleaseFile(), ACMEChallenge: r.c.Nginx.TLS.Enabled && !tlsOn}
	if len(r.trusted) > 0 {
		// Behind the lb: TLS, the ACME challenge and the security headers
		// are the lb's; this site trusts the lb's forwarded headers.
		tlsOn, so.ACMEChallenge = false, false
		sc.Proxy.SecurityHeaders = false
		so.TrustedProxies = r.trusted
	}
	sc.Nginx.TLS.Enabled = tlsOn
	site, err := r.RenderSite(&sc, so)
	if err != nil {
		return nil, fmt.Errorf("render the nginx site: %w", err)
	}
	return site, nil
}

func (r *hostRun) upstreamFile(slot string) ([]byte, error) {
	lines, err := nginx.UpstreamServers(r.c, []string{AppHost + ":" + strconv.Itoa(SlotPort(r.c, slot))})
	if err != nil {
		return nil, err
	}
	return append([]byte("# the slot taking traffic, written by stackctl deploy\n"), lines...), nil
}

// releaseFile is the release file naming release id's folder (the
// current link when there is no release yet: nothing serves then).
func (r *hostRun) releaseFile(id string) ([]byte, error) {
	dir := r.l.Current()
	if id != "" {
		dir = r.l.Release(id)
	}
	return nginx.ReleaseMap(r.c, dir)
}

// switchArgs are switchScript's arguments for a switch to slot running
// release id; the upstream file goes on stdin (the first result).
func (r *hostRun) switchArgs(slot, id string) ([]byte, []string, error) {
	up, err := r.upstreamFile(slot)
	if err != nil {
		return nil, nil, err
	}
	rel, err := r.releaseFile(id)
	if err != nil {
		return nil, nil, err
	}
	return up, []string{"sh", "-c", switchScript, "stackctl", r.l.UpstreamFile(), r.l.Current(), "releases/" + id,
		strconv.Itoa(int(r.DrainTimeout / time.Second)), r.l.ReleaseFile(), string(rel)}, nil
}

// filesChanged returns the system files this deploy changes.
func (r *hostRun) filesChanged() []HostFile { return changedFiles(r.want, r.before) }

// changedFiles returns the files of want whose content or mode differ from
// what before says the host holds.
func changedFiles(want []HostFile, before map[string]HostFile) []HostFile {
	var out []HostFile
	for _, w := range want {
		if !before[w.Path].same(w) {
			out = append(out, w)
		}
	}
	return out
}

// noop reports whether the host already runs exactly this release.
func (r *hostRun) noop() bool {
	return !r.pending && r.state.Current != "" && len(r.changed) == 0 && len(r.oldSums) == len(r.bundle.Files) &&
		len(r.filesChanged()) == 0 && r.facts.Active[r.state.Slot] == "active"
}

// lock takes the host's deploy lock.
func (r *hostRun) lock(ctx context.Context, what string) error {
	info, _ := json.Marshal(map[string]any{"by": r.by, "since": r.Now().UTC().Format(time.RFC3339), "command": what, "pid": os.Getpid()})
	out, err := host.Output(ctx, r.h, true, "sh", "-c", lockScript, "stackctl", r.l.Lock(), string(info))
	var ee *host.ExitError
	if errors.As(err, &ee) && ee.Status == 3 {
		var held struct {
			By, Since, Command string
			PID                int
		}
		json.Unmarshal([]byte(strings.TrimSpace(out)), &held)
		if staleHolder(held.By, held.PID) {
			// Its process is gone (SIGKILL, a crash): the lock is free,
			// and the record it left is converged next (recover).
			r.say(r.h, "%s the lock of %s (pid %d, %s, since %s) outlived its process: taking it over", r.p.Yellow("!"), orUnknown(held.By), held.PID, orUnknown(held.Command), orUnknown(held.Since))
			if _, err := host.Output(ctx, r.h, true, "rm", "-rf", "--", r.l.Lock()); err != nil {
				return err
			}
			return r.lock(ctx, what)
		}
		return ui.WithFix(lockHeld{fmt.Errorf("%s: %s holds the deploy lock of %s since %s (%s); nothing was changed", r.h.Name(), orUnknown(held.By), r.c.Name, orUnknown(held.Since), orUnknown(held.Command))},
			"wait for it to finish (--lock-wait); if its command surely does not run (killed on another machine), remove the lock with 'stackctl unlock'")
	}
	if err != nil {
		return err
	}
	r.locked = true
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (r *hostRun) unlock() {
	if !r.locked {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := host.Output(ctx, r.h, true, "rm", "-rf", "--", r.l.Lock()); err != nil {
		r.say(r.h, "%s could not remove the lock %s: %v", r.p.Yellow("warning:"), r.l.Lock(), err)
		return
	}
	r.locked = false
}

// newID picks the new release's id: the time, plus the commit of a clean
// git tree, unique on the host.
func (r *hostRun) newID() string {
	id := r.Now().UTC().Format("20060102T150405Z")
	if r.commit != "" && r.clean {
		id += "-" + r.commit
	}
	base := id
	for n := 1; r.facts.OnDisk[id] || r.state.find(id) != nil; n++ {
		id = base + "." + strconv.Itoa(n)
	}
	return id
}

// prepare sends the release and builds its virtualenv (DEPLOY.md step 1).
func (r *hostRun) prepare(ctx context.Context) error {
	start := time.Now()
	base := ""
	if r.state.Current != "" && r.facts.OnDisk[r.state.Current] {
		base = r.state.Current
	}
	if base == "" {
		r.changed, r.bytes = r.bundle.Changed(nil, nil)
	}
	r.reuse = base != "" && r.bundle.Sums["requirements.txt"] == r.oldSums["requirements.txt"]
	data, err := r.bundle.Tar(r.changed)
	if err != nil {
		return err
	}
	python := "0"
	if r.bundle.Python {
		python = "1"
	}
	reuse := "0"
	if r.reuse {
		reuse = "1"
	}
	var out bytes.Buffer
	r.prepared = true
	r.step(r.h, "sending release %s (%d files, %s)", r.id, len(r.changed), humanBytes(r.bytes))
	args := append([]string{r.l.Releases(), r.id, base, python, reuse, dataDir(r.l)}, r.c.App.Data...)
	err = host.Script(ctx, r.h, true, prepareScript, bytes.NewReader(data), &out, args...)
	if err != nil {
		return fmt.Errorf("prepare release %s: %w", r.id, err)
	}
	venv := ""
	if strings.Contains(out.String(), "venv=reused") {
		venv = ", virtualenv reused"
	} else if strings.Contains(out.String(), "venv=built") {
		venv = ", virtualenv built"
	}
	what := fmt.Sprintf("%d of %d files, %s", len(r.changed), len(r.bundle.Files), humanBytes(r.bytes))
	if len(r.changed) == 0 {
		what = "no file changed, nothing sent"
	}
	r.say(r.h, "%s release %s (%s%s) %s", r.p.Cyan("↑"), r.id, what, venv, since(start))
	return nil
}

func humanBytes(n int) string { return HumanSize(int64(n)) }

// HumanSize writes n bytes as B, kB or MB.
func HumanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// installFiles writes the system files (unit, environment files, site),
// backing up what they held, and has nginx check the result.
func (r *hostRun) installFiles(ctx context.Context) error {
	if _, err := host.Output(ctx, r.h, true, "sh", "-c", ensureUserScript, "stackctl", r.c.Deploy.User, "/nonexistent"); err != nil {
		return fmt.Errorf("create the user %s: %w", r.c.Deploy.User, err)
	}
	if err := r.makeDataFolders(ctx); err != nil {
		return err
	}
	changed := r.filesChanged()
	if len(changed) == 0 {
		return nil
	}
	for _, w := range changed {
		r.touched = append(r.touched, r.before[w.Path])
	}
	backup := path.Join(r.l.StateDir, "backups", r.id)
	if err := writeHostFiles(ctx, r.h, r.l.StateDir, backup, changed); err != nil {
		return err
	}
	if out, err := host.Output(ctx, r.h, true, "nginx", "-t"); err != nil {
		return ui.WithFix(fmt.Errorf("%s: nginx rejects the new site: %s", r.h.Name(), strings.TrimSpace(out)), "fix stack.toml; every file was restored and the old release keeps serving")
	}
	if r.unitNew {
		if _, err := host.Output(ctx, r.h, true, "systemctl", "daemon-reload"); err != nil {
			return err
		}
	}
	var names []string
	for _, w := range changed {
		names = append(names, path.Base(w.Path))
	}
	r.say(r.h, "%s %s", r.p.Cyan("✎"), strings.Join(names, ", "))
	return nil
}

// releaseCommand runs deploy.release_command in the new release, as the
// app's user with its environment, before the release takes traffic.
func (r *hostRun) releaseCommand(ctx context.Context) error {
	cmd := r.c.Deploy.ReleaseCommand
	if strings.TrimSpace(cmd) == "" {
		return nil
	}
	start := time.Now()
	unit := r.l.Service + "-release-" + strings.NewReplacer(".", "-").Replace(r.id) + ".service"
	argv := appRunArgv(r.c, r.l, r.id, unit, false, false, nil, []string{"/bin/sh", "-c", cmd})
	out, err := host.Output(ctx, r.h, true, argv...)
	if err != nil {
		return ui.WithFix(fmt.Errorf("%s: release_command %q failed in release %s: %s", r.h.Name(), cmd, r.id, lastLinesOf(out, 15)),
			"fix the command or the app; nothing switched, the old release keeps serving")
	}
	r.say(r.h, "%s release_command %q %s", r.p.Green("✓"), cmd, since(start))
	return nil
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startSlot points the idle slot at release id, (re)starts it and waits
// until it is healthy on its own port (DEPLOY.md step 3).
func (r *hostRun) startSlot(ctx context.Context, id string) error {
	start := time.Now()
	link := r.l.SlotLink(r.newSlot)
	before, err := readHostFiles(ctx, r.h, link)
	if err != nil {
		return err
	}
	r.slotBefore = before[link]
	if err := writeHostFiles(ctx, r.h, r.l.StateDir, "", []HostFile{{Path: link, Exists: true, Link: "../releases/" + id}}); err != nil {
		return err
	}
	r.facts.SlotLink[r.newSlot] = "../releases/" + id
	unit := r.l.Instance(r.newSlot)
	r.step(r.h, "starting release %s on slot %s, waiting for %s", id, r.newSlot, r.c.App.Health)
	if _, err := host.Output(ctx, r.h, true, "systemctl", "restart", unit); err != nil {
		journal, _ := host.Output(ctx, r.h, true, "journalctl", "-u", unit, "-n", "12", "--no-pager", "-o", "cat")
		return ui.WithFix(fmt.Errorf("%s: release %s does not start on slot %s: %w\n%s", r.h.Name(), id, r.newSlot, err, strings.TrimSpace(journal)),
			"fix the app (journalctl -u "+unit+"); the old release keeps serving")
	}
	port := SlotPort(r.c, r.newSlot)
	proto := ""
	if r.c.Nginx.TLS.Enabled {
		proto = "https"
	}
	out, err := host.Output(ctx, r.h, true, "sh", "-c", healthScript, "stackctl", strconv.Itoa(port), r.c.App.Health,
		strconv.Itoa(int(r.HealthTimeout/time.Second)), unit, servedName(r.c), proto)
	if err != nil {
		var ee *host.ExitError
		if errors.As(err, &ee) {
			return ui.WithFix(fmt.Errorf("%s: release %s is not healthy on slot %s (port %d): %s", r.h.Name(), id, r.newSlot, port, strings.TrimSpace(out)),
				"fix the app (journalctl -u "+unit+"); the old release keeps serving")
		}
		return err
	}
	r.say(r.h, "%s healthy on slot %s (:%d) %s", r.p.Green("✓"), r.newSlot, port, since(start))
	return nil
}

// switchTraffic points nginx at the new slot and waits for the old
// workers (DEPLOY.md step 4).
func (r *hostRun) switchTraffic(ctx context.Context, id string) error {
	start := time.Now()
	r.step(r.h, "switching nginx to slot %s, waiting for its old workers", r.newSlot)
	up, args, err := r.switchArgs(r.newSlot, id)
	if err != nil {
		return err
	}
	out, err := rootOutput(ctx, r.h, bytes.NewReader(up), args...)
	var ee *host.ExitError
	if err != nil && !errors.As(err, &ee) {
		// The connection failed (or Ctrl-C), not nginx: the switch may
		// have happened, and the host's record tells (journal.go).
		return fmt.Errorf("switching nginx to slot %s: %w: %s", r.newSlot, err, strings.TrimSpace(out))
	}
	if err != nil {
		return ui.WithFix(fmt.Errorf("%s: switching nginx to slot %s failed: %s", r.h.Name(), r.newSlot, strings.TrimSpace(out)), "the old release keeps serving; see 'nginx -t' on the host")
	}
	r.switched = true
	note := ""
	if strings.Contains(out, "drain=timeout") {
		note = " (old nginx workers still busy after the drain timeout)"
	}
	r.say(r.h, "%s nginx → slot %s%s %s", r.p.Cyan("⇄"), r.newSlot, note, since(start))
	return nil
}

// rootOutput runs argv as root on h with stdin, returning combined output.
func rootOutput(ctx context.Context, h host.Host, stdin io.Reader, argv ...string) (string, error) {
	var out bytes.Buffer
	err := h.Run(ctx, host.Cmd{Argv: argv, Root: true, Stdin: stdin, Stdout: &out, Stderr: &out})
	var ee *host.ExitError
	if errors.As(err, &ee) {
		ee.Output = out.String()
	}
	return out.String(), err
}

// finish stops the old slot, records the release and prunes old ones
// (DEPLOY.md steps 5 and 6).
func (r *hostRun) finish(ctx context.Context, id string, info *ReleaseInfo) error {
	start := time.Now()
	newUnit := r.l.Instance(r.newSlot)
	if _, err := host.Output(ctx, r.h, true, "systemctl", "enable", "--quiet", "--no-reload", newUnit); err != nil {
		r.say(r.h, "%s enable %s: %v", r.p.Yellow("warning:"), newUnit, err)
	}
	if r.oldSlot != "" && r.facts.Active[r.oldSlot] != "" {
		old := r.l.Instance(r.oldSlot)
		if _, err := host.Output(ctx, r.h, true, "systemctl", "disable", "--now", "--quiet", "--no-reload", old); err != nil {
			r.say(r.h, "%s stop %s: %v", r.p.Yellow("warning:"), old, err)
		}
	}
	if err := r.syncProcesses(ctx, id); err != nil {
		r.say(r.h, "%s %v", r.p.Yellow("warning:"), err)
	}
	if id == r.state.Current {
		// The same release again (new secrets): its processes restart to
		// read them, each finishing the job in hand first.
		if err := r.restartProcesses(ctx, id); err != nil {
			r.say(r.h, "%s %v", r.p.Yellow("warning:"), err)
		}
	}
	r.state.recordSwitch(r.state.Current, id)
	r.state.Slot = r.newSlot
	r.state.Current = id
	if info != nil && r.state.find(id) == nil {
		r.state.Releases = append(r.state.Releases, *info)
	}
	pruned := r.prunable()
	if len(pruned) > 0 {
		args := append([]string{"sh", "-c", removeReleasesScript, "stackctl", r.l.Releases()}, pruned...)
		if _, err := host.Output(ctx, r.h, true, args...); err != nil {
			r.say(r.h, "%s prune: %v", r.p.Yellow("warning:"), err)
		} else {
			for _, p := range pruned {
				delete(r.facts.OnDisk, p)
			}
		}
	}
	if err := r.saveState(ctx); err != nil {
		return err
	}
	if info != nil {
		faultPoint("recorded-current", r.h)
	} else {
		// A rollback (or a deploy's switch back): no release of its own.
		faultPoint("rollback-recorded-current", r.h)
	}
	if err := r.dropJournal(ctx); err != nil {
		return err
	}
	msg := ""
	if r.oldSlot != "" {
		msg = fmt.Sprintf(", slot %s stopped", r.oldSlot)
	}
	if len(pruned) > 0 {
		msg += fmt.Sprintf(", pruned %s", strings.Join(pruned, " "))
	}
	if left := r.pruneLeftovers(ctx); left != "" {
		msg += ", " + left
	}
	r.say(r.h, "%s release %s is current%s %s", r.p.Green("✓"), id, msg, since(start))
	return nil
}

func (r *hostRun) saveState(ctx context.Context) error {
	data, err := json.MarshalIndent(r.state, "", "  ")
	if err != nil {
		return err
	}
	return writeHostFiles(ctx, r.h, r.l.StateDir, "", []HostFile{{Path: r.l.StateFile(), Exists: true, Data: append(data, '\n'), Mode: 0o644}})
}

// prunable returns the releases beyond keep_releases, oldest first; the
// current release and the one the other slot runs are never among them.
func (r *hostRun) prunable() []string {
	var ids []string
	for id := range r.facts.OnDisk {
		ids = append(ids, id)
	}
	if r.id != "" {
		ids = append(ids, r.id)
	}
	sort.Strings(ids)
	ids = dedupe(ids)
	// The release the host ran before this command stays too: a rollback
	// to an older release can still be undone, and rolled forward again.
	keep := map[string]bool{r.state.Current: true, r.previous(): true, r.ranBefore: true}
	var out []string
	excess := len(ids) - r.c.Deploy.KeepReleases
	for _, id := range ids {
		if excess <= 0 {
			break
		}
		if keep[id] {
			continue
		}
		out = append(out, id)
		excess--
	}
	return out
}

func dedupe(xs []string) []string {
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// previous is the release that ran before the current one, still on
// disk, from the host's recorded history: what a rollback goes back to.
func (r *hostRun) previous() string {
	ids := []string{r.id}
	for id := range r.facts.OnDisk {
		ids = append(ids, id)
	}
	onDisk := func(id string) bool { return id != "" && (r.facts.OnDisk[id] || id == r.id) }
	return previousRelease(r.state.History, r.state.Current, onDisk, ids)
}

// forget removes a release the fleet refused from the host's history and
// disk (it served only until the rollout was undone).
func (r *hostRun) forget(ctx context.Context, id string) error {
	kept := r.state.Releases[:0]
	for _, ri := range r.state.Releases {
		if ri.ID != id {
			kept = append(kept, ri)
		}
	}
	r.state.Releases = kept
	r.state.forgetHistory(id)
	delete(r.facts.OnDisk, id)
	if _, err := host.Output(ctx, r.h, true, "sh", "-c", removeReleasesScript, "stackctl", r.l.Releases(), id); err != nil {
		return err
	}
	return r.saveState(ctx)
}

// undo puts the host back as its record says it was before this command
// (converge): the old slot serving, every file as it was, the new release
// removed — or, when the host shows the switch done (the connection
// dropped while the switch ran to its end), finishes it, so that
// r.state.Current says which release the host serves. It runs on a
// context of its own, so Ctrl-C still undoes.
func (r *hostRun) undo() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r.prepared, r.touched, r.switched, r.slotBefore = false, nil, false, HostFile{}
	finished, err := r.converge(ctx)
	if err != nil {
		return ui.WithFix(fmt.Errorf("%s: undoing failed: %w", r.h.Name(), err), "the host keeps the record: the next deploy or rollback finishes or reverts it")
	}
	if !finished {
		r.say(r.h, "%s the old release keeps serving; every file is as it was", r.p.Yellow("↩ undone:"))
	}
	return nil
}
