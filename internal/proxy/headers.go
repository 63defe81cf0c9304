package proxy

import "strconv"

// appendUpstreamHead appends the request head nginx sends upstream for r with
// gen-nginx's location:
//
//	proxy_http_version 1.1;
//	proxy_set_header Host              $host;
//	proxy_set_header X-Real-IP         $remote_addr;
//	proxy_set_header X-Forwarded-For   $proxy_add_x_forwarded_for;
//	proxy_set_header X-Forwarded-Proto $scheme;
//	proxy_set_header Upgrade           $http_upgrade;      # websocket = true
//	proxy_set_header Connection        $connection_upgrade; # "upgrade" or ""
//
// Like ngx_http_proxy_create_request: the request line carries the URI
// exactly as the client sent it; the set headers come first in that order,
// empty values omitted; then nginx's own defaults that were not overridden
// (Content-Length of the buffered body; TE, Keep-Alive, Expect, Upgrade and
// Connection dropped); then every other client header, in order and as
// spelled, whatever its name (Proxy-Connection, Trailer and headers listed
// in Connection included). scheme is $scheme, "http" or "https"; bodyLen
// is -1 when the request has no body.
func appendUpstreamHead(b []byte, r *request, websocket bool, remoteIP, scheme string, bodyLen int64) []byte {
	b = append(b, r.method...)
	b = append(b, ' ')
	b = append(b, r.uri...)
	b = append(b, " HTTP/1.1\r\n"...)
	if len(r.host) > 0 {
		b = append(b, "Host: "...)
		b = append(b, r.host...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "X-Real-IP: "...)
	b = append(b, remoteIP...)
	b = append(b, "\r\nX-Forwarded-For: "...)
	for _, v := range r.xff {
		b = append(b, v...)
		b = append(b, ", "...)
	}
	b = append(b, remoteIP...)
	b = append(b, "\r\nX-Forwarded-Proto: "...)
	b = append(b, scheme...)
	b = append(b, "\r\n"...)
	if websocket && len(r.upgrade) > 0 {
		b = append(b, "Upgrade: "...)
		b = append(b, r.upgrade...)
		b = append(b, "\r\nConnection: upgrade\r\n"...)
	}
	if bodyLen >= 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, bodyLen, 10)
		b = append(b, "\r\n"...)
	}
	for _, h := range r.headers {
		if replacedHeader(h.name) {
			continue
		}
		b = append(b, h.name...)
		b = append(b, ": "...)
		b = append(b, h.value...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// replacedHeader reports whether nginx replaces or drops a client header of
// this name instead of passing it: the proxy_set_header names above and
// ngx_http_proxy_headers' defaults.
func replacedHeader(n []byte) bool {
	switch len(n) {
	case 2:
		return eqFold(n, "te")
	case 4:
		return eqFold(n, "host")
	case 6:
		return eqFold(n, "expect")
	case 7:
		return eqFold(n, "upgrade")
	case 9:
		return eqFold(n, "x-real-ip")
	case 10:
		return eqFold(n, "connection") || eqFold(n, "keep-alive")
	case 14:
		return eqFold(n, "content-length")
	case 15:
		return eqFold(n, "x-forwarded-for")
	case 17:
		return eqFold(n, "x-forwarded-proto") || eqFold(n, "transfer-encoding")
	}
	return false
}
