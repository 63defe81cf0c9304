// Package deploy installs a stackctl project with one engine: releases,
// two slots and a switch that fails no request, acting on a host.Host —
// servers over SSH, or this machine (host.Local) when systemd runs it.
// DeployHosts and RollbackHosts are the named flow (rollout.go: prepare →
// start → switch → finish; on failure → revert), every step recorded on
// the host first (journal.go); the day-two commands (status, releases,
// logs, exec, env) read and act on what the hosts hold.
package deploy

import "strings"

// SiteOptions are the facts the site renderer needs besides the Config.
type SiteOptions struct {
	// NginxVersion is the installed nginx's version ("1.22.1").
	NginxVersion string
	// HTTPSPort is the HTTPS port; 0 means 443.
	HTTPSPort int
	// ACMEChallenge asks for certbot's webroot challenge on the plain HTTP
	// site: TLS is enabled but this run deploys HTTP first.
	ACMEChallenge bool
	// UpstreamInclude, when set, makes the upstream block include this
	// file instead of listing servers (the slot switch on servers).
	UpstreamInclude string
	// ReleaseInclude, when set, is the file the site includes for the
	// release folder its static files come from (switched with the
	// upstream).
	ReleaseInclude string
	// TrustedProxies are the addresses of a load balancer in front of the
	// site, whose X-Forwarded-For/-Proto it trusts.
	TrustedProxies []string
	// Balancer renders the lb host's site: retry settings over the app
	// hosts (nginx.Options.Balancer).
	Balancer bool
}

// paths of the files deploy keeps for itself.
const (
	stateBase = "/var/lib/stackctl"
	unitDir   = "/etc/systemd/system"
)

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
