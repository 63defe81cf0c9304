package nginx

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// WrapperConfig returns a minimal nginx.conf that includes the given site
// files inside its http {} block and keeps every file nginx writes (pid,
// logs, temp folders) under prefix, so `nginx -p prefix -c <it>` runs
// without touching /run or /var. The paths must not hold quotes,
// backslashes, '$' or control characters.
func WrapperConfig(prefix string, sites ...string) ([]byte, error) {
	for _, p := range append([]string{prefix}, sites...) {
		if err := wrapperPathOK(p); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Minimal wrapper written by stackctl to load a site.\n")
	fmt.Fprintf(&b, "pid %q;\nerror_log %q;\n\nevents {\n    worker_connections 256;\n}\n\nhttp {\n", filepath.Join(prefix, "nginx.pid"), filepath.Join(prefix, "error.log"))
	if _, err := os.Stat("/etc/nginx/mime.types"); err == nil {
		b.WriteString("    include /etc/nginx/mime.types;\n")
	}
	b.WriteString("    default_type application/octet-stream;\n")
	fmt.Fprintf(&b, "    access_log %q;\n", filepath.Join(prefix, "access.log"))
	b.WriteString(TempPaths(prefix, "    "))
	for _, s := range sites {
		fmt.Fprintf(&b, "    include %q;\n", s)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// TempPaths returns the http-level *_temp_path directives that put nginx's
// temporary folders under prefix, each line starting with indent.
func TempPaths(prefix, indent string) string {
	var b strings.Builder
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "%s%s_temp_path %q;\n", indent, d, filepath.Join(prefix, d+"_temp"))
	}
	return b.String()
}

func wrapperPathOK(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	if strings.ContainsAny(p, "\"\\$'") || strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("%q holds a character nginx would misread (quote, backslash, $ or a control character)", p)
	}
	return nil
}

// CheckError is nginx -t's verdict on a site: nginx's own message, with
// the site's line it points at when it names one.
type CheckError struct {
	// Output is what nginx printed, with the temporary site path replaced
	// by "site".
	Output string
	// Line is the 1-based line of the site nginx complained about; 0 when
	// the message names no line of the site.
	Line int
	// Text is that line of the site.
	Text string
}

func (e *CheckError) Error() string {
	msg := "nginx -t rejected the site: " + e.Output
	if e.Line > 0 {
		msg += fmt.Sprintf("\n  line %d: %s", e.Line, strings.TrimSpace(e.Text))
	}
	return msg
}

var lineRE = regexp.MustCompile(`site\.conf:([0-9]+)`)

// Check runs `nginx -t` on site, included from WrapperConfig in a
// temporary prefix that is removed afterwards. It returns ErrNotInstalled
// when there is no nginx, a *CheckError when nginx rejects the site, and
// nil when nginx accepts it. Files the site names (certificates, logs) are
// opened by nginx as they would be on the server.
func Check(ctx context.Context, site []byte) error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "stackctl-nginx-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sitePath := filepath.Join(dir, "site.conf")
	if err := os.WriteFile(sitePath, site, 0o644); err != nil {
		return err
	}
	conf, err := WrapperConfig(dir, sitePath)
	if err != nil {
		return err
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bin, "-t", "-q", "-p", dir+"/", "-e", filepath.Join(dir, "error.log"), "-c", confPath).CombinedOutput()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("nginx -t: %w", ctx.Err())
	}
	text := strings.TrimSpace(strings.ReplaceAll(string(out), sitePath, "site.conf"))
	text = strings.ReplaceAll(text, confPath, "wrapper nginx.conf")
	if text == "" {
		text = err.Error()
	}
	ce := &CheckError{Output: text}
	if m := lineRE.FindStringSubmatch(text); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
		ce.Text = lineOf(site, ce.Line)
	}
	return ce
}

func lineOf(b []byte, n int) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for i := 1; sc.Scan(); i++ {
		if i == n {
			return sc.Text()
		}
	}
	return ""
}
