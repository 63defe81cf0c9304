package nginxtest

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/stackctl/stackctl/internal/nginx"
)

// StockPath is the distribution's nginx.conf that Stock starts from.
const StockPath = "/etc/nginx/nginx.conf"

// Stock returns the distribution's own nginx.conf (StockPath) adapted to
// run in prefix: pid, error_log and access_log point under prefix, temp
// folders too, conf.d/ is no longer included, and `include
// /etc/nginx/sites-enabled/*;` becomes an include of each site. Everything
// else — mime.types, gzip on, ssl_protocols, modules-enabled — is the
// stock file's, which is the point: a generated site must load inside it.
// When StockPath is missing or has no sites-enabled include, Debian 12's
// nginx.conf (DebianNginxConf) is used instead.
func Stock(prefix string, sites ...string) ([]byte, error) {
	src, err := os.ReadFile(StockPath)
	if err != nil || !sitesEnabledRE.Match(src) {
		src = []byte(DebianNginxConf)
	}
	return adaptStock(src, prefix, sites...)
}

var (
	pidRE          = regexp.MustCompile(`(?m)^\s*pid\s+[^;]*;`)
	errorLogRE     = regexp.MustCompile(`(?m)^\s*error_log\s+[^;]*;`)
	accessLogRE    = regexp.MustCompile(`(?m)^\s*access_log\s+[^;]*;`)
	confDRE        = regexp.MustCompile(`(?m)^\s*include\s+/etc/nginx/conf\.d/\*\.conf;`)
	sitesEnabledRE = regexp.MustCompile(`(?m)^\s*include\s+/etc/nginx/sites-enabled/\*;`)
	httpOpenRE     = regexp.MustCompile(`(?m)^http\s*\{`)
)

func adaptStock(src []byte, prefix string, sites ...string) ([]byte, error) {
	// Reuse the minimal wrapper's path checks.
	if _, err := nginx.WrapperConfig(prefix, sites...); err != nil {
		return nil, err
	}
	if !sitesEnabledRE.Match(src) || !httpOpenRE.Match(src) {
		return nil, fmt.Errorf("the stock nginx.conf has no http { ... include /etc/nginx/sites-enabled/*; }")
	}
	out := pidRE.ReplaceAll(src, []byte(fmt.Sprintf("pid %q;", prefix+"/nginx.pid")))
	out = errorLogRE.ReplaceAll(out, []byte(fmt.Sprintf("error_log %q;", prefix+"/error.log")))
	out = accessLogRE.ReplaceAll(out, []byte(fmt.Sprintf("\taccess_log %q;", prefix+"/access.log")))
	out = confDRE.ReplaceAll(out, nil)
	var inc strings.Builder
	for _, s := range sites {
		fmt.Fprintf(&inc, "\tinclude %q;\n", s)
	}
	out = sitesEnabledRE.ReplaceAllLiteral(out, []byte(strings.TrimSuffix(inc.String(), "\n")))
	out = httpOpenRE.ReplaceAllLiteral(out, []byte("http {\n"+nginx.TempPaths(prefix, "\t")))
	if !bytes.Contains(out, []byte("pid ")) {
		out = append([]byte(fmt.Sprintf("pid %q;\n", prefix+"/nginx.pid")), out...)
	}
	return out, nil
}

// DebianNginxConf is Debian 12's /etc/nginx/nginx.conf (nginx 1.22.1),
// used by Stock when the machine has none.
const DebianNginxConf = `user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
include /etc/nginx/modules-enabled/*.conf;

events {
	worker_connections 768;
}

http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;

	include /etc/nginx/mime.types;
	default_type application/octet-stream;

	ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
	ssl_prefer_server_ciphers on;

	access_log /var/log/nginx/access.log;

	gzip on;

	include /etc/nginx/conf.d/*.conf;
	include /etc/nginx/sites-enabled/*;
}
`
