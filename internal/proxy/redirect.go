package proxy

import "strings"

// redirectTarget returns where proxy.redirect sends the request, or "":
// www-to-apex answers "www.<name>" with a 301 to "<name>", apex-to-www the
// reverse, for the names in proxy.server_names (gen-nginx's extra server
// block, whose target carries nginx.listen's port unless it is 80: here
// port is the proxy's own, ":8080" or ""). Other hosts are served.
func redirectTarget(r *request, s *settings, port string) string {
	if s.redirect == "" || s.redirect == "none" || len(r.host) == 0 {
		return ""
	}
	host := string(r.host)
	for _, n := range s.serverNames {
		n = strings.ToLower(n)
		switch s.redirect {
		case "www-to-apex":
			if !strings.HasPrefix(n, "www.") && host == "www."+n {
				return "http://" + n + port + string(r.uri)
			}
		case "apex-to-www":
			if !strings.HasPrefix(n, "www.") && host == n {
				return "http://www." + n + port + string(r.uri)
			}
		}
	}
	return ""
}
