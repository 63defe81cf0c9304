package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/stackctl/stackctl/internal/ui"
)

// Layout is an nginx installation: its binary, where its configuration is,
// where a site goes, and the flags that make it use that configuration.
type Layout struct {
	// Binary is the nginx executable.
	Binary string
	// Version is nginx's version ("1.22.1").
	Version string
	// Prefix is nginx's prefix; passed with -p when Flags is set.
	Prefix string
	// ConfPath is the main configuration file; passed with -c when Flags is set.
	ConfPath string
	// Flags is true when nginx must be told Prefix and ConfPath (a root was given).
	Flags bool
	// SitesDir is the folder the site file is written to.
	SitesDir string
	// EnabledDir, when not empty, gets a link to the site (Debian's
	// sites-enabled next to sites-available).
	EnabledDir string
	// Included reports whether the main configuration includes the site's
	// folder (a warning when not: nginx would not read the site).
	Included bool
}

// Args returns nginx's arguments for this installation followed by extra.
func (l Layout) Args(extra ...string) []string {
	argv := []string{l.Binary}
	if l.Flags {
		argv = append(argv, "-p", l.Prefix, "-c", l.ConfPath)
	}
	return append(argv, extra...)
}

// SitePath returns the site file's path and, for a Debian layout, the link
// in sites-enabled ("" otherwise).
func (l Layout) SitePath(name string) (file, link string) {
	file = filepath.Join(l.SitesDir, name+".conf")
	if l.EnabledDir != "" {
		link = filepath.Join(l.EnabledDir, name+".conf")
	}
	return file, link
}

// BuildInfo is what `nginx -V` says about how nginx was built.
type BuildInfo struct {
	Version  string
	Prefix   string
	ConfPath string
}

var (
	versionRE = regexp.MustCompile(`nginx version: [^/\s]+/(\d+\.\d+\.\d+)`)
	argRE     = regexp.MustCompile(`--(prefix|conf-path)=(\S+)`)
)

// ParseBuildInfo reads the output of `nginx -V`. Missing paths get nginx's
// own defaults: prefix /usr/local/nginx, conf <prefix>/conf/nginx.conf.
func ParseBuildInfo(out string) (BuildInfo, error) {
	var bi BuildInfo
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return bi, fmt.Errorf("cannot read nginx's version from %q", firstLine(out))
	}
	bi.Version = m[1]
	for _, a := range argRE.FindAllStringSubmatch(out, -1) {
		v := strings.Trim(a[2], `'"`)
		switch a[1] {
		case "prefix":
			bi.Prefix = v
		case "conf-path":
			bi.ConfPath = v
		}
	}
	if bi.Prefix == "" {
		bi.Prefix = "/usr/local/nginx"
	}
	if bi.ConfPath == "" {
		bi.ConfPath = "conf/nginx.conf"
	}
	if !filepath.IsAbs(bi.ConfPath) {
		bi.ConfPath = filepath.Join(bi.Prefix, bi.ConfPath)
	}
	return bi, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// DiscoverLayout finds the installed nginx and where a site belongs.
//
// Without root, nginx runs with its compiled-in paths (`nginx -V`). With
// root, the configuration is root + the compiled conf path
// (<root>/etc/nginx/nginx.conf on Debian) and nginx is driven with
// `-p <root>/ -c <that file>`: this is how tests run their own nginx.
//
// The site goes to sitesDir (joined under root) when given; else to
// sites-available with a link in sites-enabled when both folders are beside
// the main configuration (Debian), else to conf.d.
func DiscoverLayout(ctx context.Context, sys System, root, sitesDir string) (Layout, error) {
	var l Layout
	bin, err := sys.LookPath("nginx")
	if err != nil {
		return l, ui.WithFix(fmt.Errorf("nginx is not installed"), "install it (apt-get install nginx) and run deploy again")
	}
	l.Binary = bin
	out, err := sys.run(ctx, "", bin, "-V")
	if err != nil {
		return l, fmt.Errorf("run nginx -V: %w", err)
	}
	bi, err := ParseBuildInfo(out)
	if err != nil {
		return l, err
	}
	l.Version = bi.Version
	l.Prefix, l.ConfPath = bi.Prefix, bi.ConfPath
	if root != "" {
		l.Flags = true
		l.Prefix = root + "/"
		l.ConfPath = filepath.Join(root, bi.ConfPath)
	}
	conf, err := os.ReadFile(l.ConfPath)
	if err != nil {
		return l, ui.WithFix(fmt.Errorf("read nginx's configuration: %w", err), "check that nginx is installed"+rootHint(root))
	}
	confDir := filepath.Dir(l.ConfPath)

	switch {
	case sitesDir != "":
		d := filepath.Join(root, sitesDir)
		if !isDir(d) {
			return l, ui.Errorf("create it, or pass another --sites-dir (deploy.sites_dir)", "the sites folder %s does not exist", d)
		}
		l.SitesDir = d
		if filepath.Base(d) == "sites-available" && isDir(filepath.Join(filepath.Dir(d), "sites-enabled")) {
			l.EnabledDir = filepath.Join(filepath.Dir(d), "sites-enabled")
		}
	case isDir(filepath.Join(confDir, "sites-available")) && isDir(filepath.Join(confDir, "sites-enabled")):
		l.SitesDir = filepath.Join(confDir, "sites-available")
		l.EnabledDir = filepath.Join(confDir, "sites-enabled")
	case isDir(filepath.Join(confDir, "conf.d")):
		l.SitesDir = filepath.Join(confDir, "conf.d")
	default:
		return l, ui.Errorf("pass --sites-dir DIR (or set deploy.sites_dir) to the folder your nginx.conf includes",
			"cannot tell where nginx reads sites: %s has neither sites-available/ and sites-enabled/ nor conf.d/", confDir)
	}
	probe, _ := l.SitePath("stackctl-probe")
	if l.EnabledDir != "" {
		probe = filepath.Join(l.EnabledDir, "stackctl-probe.conf")
	}
	l.Included = includes(conf, confDir, probe)
	return l, nil
}

func rootHint(root string) string {
	if root == "" {
		return ""
	}
	return " (with root " + root + ", nginx's configuration is under it at the path `nginx -V` shows as --conf-path)"
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

var includeRE = regexp.MustCompile(`^\s*include\s+("[^"]*"|'[^']*'|[^;\s]+)\s*;`)

// includes reports whether the configuration text has an include whose
// pattern matches the file path (relative patterns are relative to the
// configuration's folder, as in nginx).
func includes(conf []byte, confDir, file string) bool {
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		m := includeRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pat := strings.Trim(m[1], `"'`)
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(confDir, pat)
		}
		if ok, _ := filepath.Match(pat, file); ok {
			return true
		}
	}
	return false
}
