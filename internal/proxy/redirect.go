package proxy

import "strings"

// redirectTarget returns where proxy.redirect sends the request, or "":
// www-to-apex answers "www.<name>" with a 301 to "<name>", apex-to-www the
// reverse, for the names in proxy.server_names (gen-nginx's extra server
// block). Other hosts are served, as nginx's only server block would.
func redirectTarget(r *request, s *settings) string {
	if s.redirect == "" || s.redirect == "none" || len(r.host) == 0 {
		return ""
	}
	host := string(r.host)
	for _, n := range s.serverNames {
		n = strings.ToLower(n)
		switch s.redirect {
		case "www-to-apex":
			if !strings.HasPrefix(n, "www.") && host == "www."+n {
				return "http://" + n + string(r.uri)
			}
		case "apex-to-www":
			if !strings.HasPrefix(n, "www.") && host == n {
				return "http://www." + n + string(r.uri)
			}
		}
	}
	return ""
}
