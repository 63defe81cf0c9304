package nginx

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

// version is a parsed nginx version.
type version struct{ major, minor, patch int }

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

func (v version) atLeast(major, minor, patch int) bool {
	if v.major != major {
		return v.major > major
	}
	if v.minor != minor {
		return v.minor > minor
	}
	return v.patch >= patch
}

// http2Directive reports whether HTTP/2 is turned on with "http2 on"
// (nginx 1.25.1 and later) instead of the listen parameter "http2".
func (v version) http2Directive() bool { return v.atLeast(1, 25, 1) }

// tlsProtocols is Mozilla intermediate's ssl_protocols for this nginx:
// TLSv1.3 exists from nginx 1.13.0.
func (v version) tlsProtocols() string {
	if v.atLeast(1, 13, 0) {
		return "TLSv1.2 TLSv1.3"
	}
	return "TLSv1.2"
}

var versionRE = regexp.MustCompile(`^([0-9]{1,4})\.([0-9]{1,4})(?:\.([0-9]{1,4}))?$`)

func parseVersion(s string) (version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, fmt.Errorf("%q is not an nginx version (1.22.1)", s)
	}
	var v version
	v.major, _ = strconv.Atoi(m[1])
	v.minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.patch, _ = strconv.Atoi(m[3])
	}
	return v, nil
}

// ErrNotInstalled is returned by DetectVersion and Check when no nginx
// binary is on PATH (or in /usr/sbin).
var ErrNotInstalled = errors.New("nginx is not installed (Debian/Ubuntu: apt-get install nginx)")

// Binary returns the path of the nginx binary: the one on PATH, else
// /usr/sbin/nginx (not on a normal user's PATH on Debian).
func Binary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("/usr/sbin/nginx"); err == nil {
		return p, nil
	}
	return "", ErrNotInstalled
}

var nginxVersionRE = regexp.MustCompile(`nginx/([0-9]+\.[0-9]+(?:\.[0-9]+)?)`)

// DetectVersion runs `nginx -v` and returns the installed version ("1.22.1").
func DetectVersion(ctx context.Context) (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s -v: %v: %s", bin, err, out)
	}
	m := nginxVersionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s -v printed no version: %q", bin, out)
	}
	return string(m[1]), nil
}
