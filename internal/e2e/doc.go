//go:build unix

// Package e2e holds end-to-end tests across stackctl's parts; it has no
// code of its own. Each test drives the built stackctl binary and the real
// components a user would run: `stackctl new` scaffolds a project, the app
// runs as it does in production (gunicorn for Flask, the compiled binary
// for Go) behind the real nginx loading the site nginx.Render writes, or
// under `stackctl serve` with its embedded proxy; requests then go through
// the front exactly as a browser's would.
//
// The tests need nginx, python3 with Flask and gunicorn (Debian: apt-get
// install nginx python3-flask gunicorn) and the go tool; without them they
// are skipped, or fail when STACKCTL_REQUIRE_NGINX=1.
package e2e
