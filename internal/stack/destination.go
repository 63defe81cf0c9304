package stack

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// SlotOffset is the distance between the ports of a host's two slots:
// slot a runs on app.port, slot b on app.port+SlotOffset.
const SlotOffset = 10000

// Destination is an SSH destination as deploy.hosts and --host take it:
// [user@]host[:port], where host may be a Host alias of the SSH config.
type Destination struct {
	// User is the login name; empty means the SSH config's (or the local user).
	User string
	// Host is a host name, an IP address or a Host alias.
	Host string
	// Port is the SSH port; 0 means the SSH config's (or 22).
	Port int
}

// String writes the destination back as [user@]host[:port].
func (d Destination) String() string {
	s := d.Host
	if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	if d.User != "" {
		s = d.User + "@" + s
	}
	if d.Port != 0 {
		s += ":" + strconv.Itoa(d.Port)
	}
	return s
}

var (
	sshUserRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
	sshHostRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$`)
)

// ParseDestination reads [user@]host[:port] (an IPv6 address in brackets).
// Anything ssh could read as an option, a second word or a config directive
// (a leading '-', spaces, control characters, '%' tokens, quotes) is
// refused, so a destination can never inject options into ssh.
func ParseDestination(s string) (Destination, error) {
	var d Destination
	if s == "" {
		return d, fmt.Errorf("is empty: name a host (web1, deploy@203.0.113.10, web3:2222)")
	}
	if strings.HasPrefix(s, "-") {
		return d, fmt.Errorf("%q starts with '-': a host name never does", s)
	}
	rest := s
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		d.User, rest = rest[:i], rest[i+1:]
		if !sshUserRE.MatchString(d.User) {
			return d, fmt.Errorf("%q: %q is not a user name", s, d.User)
		}
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return d, fmt.Errorf("%q: missing ']' after the IPv6 address", s)
		}
		host = rest[1:end]
		if _, err := netip.ParseAddr(host); err != nil || !strings.Contains(host, ":") {
			return d, fmt.Errorf("%q: %q is not an IPv6 address", s, host)
		}
		rest = rest[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return d, fmt.Errorf("%q: expected :PORT after the address", s)
			}
			port = rest[1:]
		}
	} else {
		if i := strings.LastIndex(rest, ":"); i >= 0 {
			host, port = rest[:i], rest[i+1:]
			if port == "" {
				return d, fmt.Errorf("%q: a port follows ':'", s)
			}
		}
		if !sshHostRE.MatchString(host) || strings.Contains(host, "..") {
			return d, fmt.Errorf("%q: %q is not a host name, an address or an ssh_config alias", s, host)
		}
	}
	d.Host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return d, fmt.Errorf("%q: %q is not a port (1-65535)", s, port)
		}
		d.Port = n
	}
	return d, nil
}

// ValidateDestination reports whether s is a destination deploy accepts.
func ValidateDestination(s string) error {
	_, err := ParseDestination(s)
	return err
}
