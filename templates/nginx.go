package templates

import "embed"

// Nginx holds the nginx site templates under nginx/: site.conf.tmpl is the
// entry point and the other files define the partials it calls (upstream,
// proxy location, static locations, TLS, security headers, redirects).
// internal/nginx renders them with text/template.
//
//go:embed all:nginx
var Nginx embed.FS
