package parity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stackctl/stackctl/internal/stack"
)

// TestParity sends every case to real nginx running nginx.Render's site and
// to the embedded proxy, both built from one Config and in front of the same
// echo upstreams, and compares their answers (see View for the
// normalisation). Each site is a Config variant; cases of a site run in
// parallel.
func TestParity(t *testing.T) {
	requireNginx(t)
	for _, st := range paritySites() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			s := startSite(t, st.spec)
			runCases(t, s, st.cases)
		})
	}
}

// paritySite is a Config variant and the cases sent to it.
type paritySite struct {
	name  string
	spec  siteSpec
	cases []parityCase
}

// paritySites lists every site of the suite and its cases.
func paritySites() []paritySite {
	return []paritySite{
		{"default", siteSpec{}, defaultCases()},
		{"limits", siteSpec{mutate: func(c *stack.Config) {
			c.Proxy.ClientMaxBodySize = "1k"
			c.Proxy.ReadTimeout = "1s"
		}}, limitCases()},
		{"features_off", siteSpec{mutate: func(c *stack.Config) {
			c.Proxy.Gzip = false
			c.Proxy.WebSocket = false
			c.Proxy.SecurityHeaders = false
		}}, featuresOffCases()},
		{"upstream_down", siteSpec{upstreams: []string{"down"}}, downCases()},
		{"round_robin", siteSpec{upstreams: []string{"echo", "echo", "echo"}}, []parityCase{
			{name: "upstreams/round_robin_order", status: 200, serial: true, run: sequence(9)},
		}},
		{"least_conn", siteSpec{upstreams: []string{"echo", "echo", "echo"}, mutate: func(c *stack.Config) { c.Upstream.Balance = stack.BalanceLeastConn }}, []parityCase{
			{name: "upstreams/least_conn_order_when_idle", status: 200, serial: true, run: sequence(6)},
		}},
		{"ip_hash", siteSpec{upstreams: []string{"echo", "echo", "echo"}, mutate: func(c *stack.Config) { c.Upstream.Balance = stack.BalanceIPHash }}, []parityCase{
			{name: "upstreams/ip_hash_same_server_for_a_client", status: 200, serial: true, run: sequence(4)},
		}},
		{"failover", siteSpec{upstreams: []string{"echo", "down", "echo"}}, []parityCase{
			{name: "upstreams/failover_skips_down_server", status: 200, serial: true, run: sequence(8)},
		}},
		{"redirect", siteSpec{mutate: func(c *stack.Config) { c.Proxy.Redirect = stack.RedirectWWWToApex }}, []parityCase{
			{name: "redirect/www_to_apex", status: 301, req: raw("GET /r/path?q=1 HTTP/1.1", "Host: www.example.com")},
			{name: "redirect/www_to_apex_upper_case_with_port", status: 301, req: raw("GET /r/upper HTTP/1.1", "Host: WWW.Example.com:8080")},
			{name: "redirect/www_to_apex_post", status: 301, req: raw("POST /r/post HTTP/1.1", "Host: www.example.com", "Content-Length: 2", "", "ab")},
			{name: "redirect/apex_served", status: 200, req: raw("GET /r/apex HTTP/1.1", "Host: example.com")},
			{name: "redirect/unknown_host_served", status: 200, req: raw("GET /r/other HTTP/1.1", "Host: other.test")},
		}},
		{"timing", siteSpec{shortClientTimeouts: true, mutate: func(c *stack.Config) { c.Proxy.ReadTimeout = "3s" }}, []parityCase{
			// send_timeout (1s) runs between two writes: an answer after
			// 1.5s, within read_timeout, reaches the client, and so does
			// the 504 after read_timeout.
			{name: "timing/answer_later_than_send_timeout", status: 200, req: get("/sleep?ms=1500")},
			{name: "timing/gateway_timeout_later_than_send_timeout", status: 504, req: get("/sleep?ms=6000")},
			{name: "timing/slow_stream_longer_than_send_timeout", status: 200, req: get("/stream?chunks=4&gap=600")},
			// client_header_timeout is for the whole head in nginx (the
			// timer is set once, not re-armed by each read): a head sent a
			// line every 400ms gets no answer after 1s.
			{name: "timing/header_dribbled_past_client_header_timeout", status: -1, run: dribbleHead},
		}},
		{"early_answers", siteSpec{mutate: func(c *stack.Config) {
			c.Proxy.ClientMaxBodySize = "8m"
			c.Proxy.Redirect = stack.RedirectWWWToApex
		}}, earlyAnswerCases()},
		{"keepalive", siteSpec{}, []parityCase{
			{name: "upstreams/keepalive_reuses_connections", status: 200, serial: true, run: keepaliveReuse},
		}},
	}
}

// TestDifferencesDocumented checks that DIFFERENCES.md lists exactly the
// cases marked as intentional differences, so the table and the suite
// cannot drift apart.
func TestDifferencesDocumented(t *testing.T) {
	md, err := os.ReadFile("DIFFERENCES.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(md), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, name := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(first, -1) {
			listed[name[1]] = true
		}
	}
	marked := map[string]bool{}
	for _, st := range paritySites() {
		for _, c := range st.cases {
			if c.differs != "" {
				marked[c.name] = true
				if !listed[c.name] {
					t.Errorf("case %s is an intentional difference missing from DIFFERENCES.md", c.name)
				}
			}
		}
	}
	for name := range listed {
		if !marked[name] {
			t.Errorf("DIFFERENCES.md lists %s, which is not a case marked as an intentional difference", name)
		}
	}
}

// etag is the ETag nginx gives a static fixture: hex mtime, '-', hex size.
func etag(name string) string {
	return fmt.Sprintf(`"%x-%x"`, fixtureTime.Unix(), len(staticFiles[name]))
}

func defaultCases() []parityCase {
	long := func(n int) string { return strings.Repeat("a", n) }
	lastMod := fixtureTime.Format(http.TimeFormat)
	cases := []parityCase{
		// Request headers at the app.
		{name: "headers/host", status: 200, req: get("/host")},
		{name: "headers/host_with_port", status: 200, req: raw("GET /host_with_port HTTP/1.1", "Host: example.com:8080")},
		{name: "headers/host_upper_case", status: 200, req: raw("GET /host_upper_case HTTP/1.1", "Host: EXAMPLE.Com")},
		{name: "headers/host_other_name", status: 200, req: raw("GET /host_other_name HTTP/1.1", "Host: other.test")},
		{name: "headers/host_ipv4_with_port", status: 200, req: raw("GET /host_ipv4_with_port HTTP/1.1", "Host: 127.0.0.1:1234")},
		{name: "headers/host_trailing_dot", status: 200, req: raw("GET /host_trailing_dot HTTP/1.1", "Host: example.com.")},
		{name: "headers/x_real_ip_spoofed", status: 200, req: get("/x_real_ip_spoofed", "X-Real-IP: 203.0.113.9")},
		{name: "headers/x_forwarded_for_absent", status: 200, req: get("/x_forwarded_for_absent")},
		{name: "headers/x_forwarded_for_present", status: 200, req: get("/x_forwarded_for_present", "X-Forwarded-For: 203.0.113.7")},
		{name: "headers/x_forwarded_for_list", status: 200, req: get("/x_forwarded_for_list", "X-Forwarded-For: 203.0.113.7, 198.51.100.1")},
		{name: "headers/x_forwarded_for_two_lines", status: 200, req: get("/x_forwarded_for_two_lines", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-For: 198.51.100.1")},
		{name: "headers/x_forwarded_proto_spoofed", status: 200, req: get("/x_forwarded_proto_spoofed", "X-Forwarded-Proto: https")},
		{name: "headers/x_forwarded_host_passed", status: 200, req: get("/x_forwarded_host_passed", "X-Forwarded-Host: evil.test")},
		{name: "headers/connection_close", status: 200, req: get("/connection_close", "Connection: close")},
		// Quirks of nginx 1.22 a review found (issue 14).
		{name: "quirks/trace_405", status: 405, req: raw("TRACE /trace HTTP/1.1", "Host: example.com")},
		{name: "quirks/connect_405", status: 405, req: raw("CONNECT /connect HTTP/1.1", "Host: example.com")},
		{name: "quirks/host_with_space", status: 400, req: raw("GET /host_with_space HTTP/1.1", "Host: exa mple.com")},
		{name: "quirks/host_with_control_character", status: 400, req: raw("GET /host_ctl HTTP/1.1", "Host: exa\x01mple.com")},
		{name: "quirks/host_leading_dot", status: 200, req: raw("GET /host_leading_dot HTTP/1.1", "Host: .example.com")},
		{name: "quirks/absolute_uri_userinfo", status: 400, req: raw("GET http://a@example.com/abs_userinfo HTTP/1.1", "Host: example.com")},
		{name: "quirks/absolute_uri_bad_port", status: 400, req: raw("GET http://example.com:8x/abs_bad_port HTTP/1.1", "Host: example.com")},
		{name: "quirks/absolute_uri_good_port", status: 200, req: raw("GET http://Example.com:8080/abs_good_port HTTP/1.1", "Host: other.test")},
		{name: "quirks/hash_ends_path_static", status: 200, req: get("/static/notes.txt#fragment")},
		{name: "quirks/hash_ends_path_hidden", status: 200, req: get("/hash_hidden#/.git")},
		{name: "quirks/connection_last_header_decides", status: 200, req: get("/conn_last", "Connection: keep-alive", "Connection: close")},
		{name: "quirks/connection_close_then_keep_alive", status: 200, req: get("/conn_close_ka", "Connection: close", "Connection: keep-alive")},
		{name: "quirks/http10_connection_keep_alive_close", status: 200, req: raw("GET /conn_10 HTTP/1.0", "Host: example.com", "Connection: keep-alive, close")},
		{name: "headers/connection_keep_alive", status: 200, req: get("/connection_keep_alive", "Connection: keep-alive", "Keep-Alive: timeout=5")},
		{name: "headers/connection_names_a_header", status: 200, req: get("/connection_names_a_header", "Connection: X-Hop", "X-Hop: 1")},
		{name: "headers/te_trailers", status: 200, req: get("/te_trailers", "TE: trailers")},
		{name: "headers/upgrade_without_connection", status: 200, req: get("/upgrade_without_connection", "Upgrade: websocket")},
		{name: "headers/upgrade_h2c", status: 200, req: get("/upgrade_h2c", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA")},
		{name: "headers/proxy_connection", status: 200, req: get("/proxy_connection", "Proxy-Connection: keep-alive")},
		{name: "headers/trailer", status: 200, req: get("/trailer", "Trailer: X-Checksum")},
		{name: "headers/underscores_dropped", status: 200, req: get("/underscores_dropped", "X_Custom: 1", "X-Custom: 2", "_lead: 3")},
		{name: "headers/duplicates_keep_order", status: 200, req: get("/duplicates_keep_order", "X-Dup: one", "X-Other: x", "X-Dup: two", "x-dup: three")},
		{name: "headers/name_case", status: 200, req: get("/name_case", "x-lower: 1", "X-UPPER: 2", "x-MiXeD: 3")},
		{name: "headers/empty_value", status: 200, req: get("/empty_value", "X-Empty:")},
		{name: "headers/value_whitespace", status: 200, req: get("/value_whitespace", "X-Space: \t padded  value \t")},
		{name: "headers/value_latin1", status: 200, req: get("/value_latin1", "X-Latin: caf\xe9")},
		{name: "headers/cookies_two_lines", status: 200, req: get("/cookies_two_lines", "Cookie: a=1", "Cookie: b=2")},
		{name: "headers/long_value_near_limit", status: 200, req: get("/long_value_near_limit", "X-Long: "+long(7900))},
		{name: "headers/long_value_over_limit", status: 400, req: get("/long_value_over_limit", "X-Long: "+long(8300))},
		{name: "headers/total_over_limit", status: 400, req: get("/total_over_limit", "X-1: "+long(7000), "X-2: "+long(7000), "X-3: "+long(7000), "X-4: "+long(7000), "X-5: "+long(7000))},
		{name: "headers/many_small_headers", status: 200, req: get("/many_small_headers", manyHeaders(200)...)},

		// Request URIs reach the app as sent.
		{name: "uri/query_string", status: 200, req: get("/search?q=a+b&x=1&x=2&empty=")},
		{name: "uri/encoded_slash", status: 200, req: get("/a%2Fb%2f")},
		{name: "uri/encoded_space", status: 200, req: get("/a%20b?c=%20")},
		{name: "uri/encoded_nul", status: 400, req: get("/a%00b")},
		{name: "uri/encoded_nul_in_query", status: 200, req: get("/a?b=%00")},
		{name: "uri/double_slash", status: 200, req: get("//a//b")},
		{name: "uri/dot_segment", status: 200, req: get("/a/./b/.")},
		{name: "uri/dot_dot_segment", status: 200, req: get("/a/b/../c")},
		{name: "uri/dot_dot_above_root", status: 400, req: get("/../etc/passwd")},
		{name: "uri/non_ascii_raw", status: 200, req: get("/caf\xc3\xa9?q=\xff")},
		{name: "uri/non_ascii_encoded", status: 200, req: get("/caf%C3%A9")},
		{name: "uri/invalid_escape", status: 400, req: get("/a%zz")},
		{name: "uri/fragment", status: 200, req: get("/a#frag")},
		{name: "uri/semicolon", status: 200, req: get("/a;v=1/b?x=;")},
		{name: "uri/backslash", status: 200, req: get(`/a\b`)},
		{name: "uri/long_near_limit", status: 200, req: get("/" + long(8000))},
		{name: "uri/too_long", status: 414, req: get("/" + long(9000))},
		{name: "uri/asterisk", status: 400, req: raw("OPTIONS * HTTP/1.1", "Host: example.com")},
		{name: "uri/absolute_form", status: 200, req: raw("GET http://example.com/abs?x=1 HTTP/1.1", "Host: example.com")},
		{name: "uri/absolute_form_other_host", status: 200, req: raw("GET http://other.test:81/abs HTTP/1.1", "Host: example.com")},
		{name: "uri/relative_path", status: 400, req: raw("GET a/b HTTP/1.1", "Host: example.com")},

		// Methods and bodies.
		{name: "methods/get", status: 200, req: get("/get")},
		{name: "methods/head", status: 200, req: raw("HEAD /head HTTP/1.1", "Host: example.com")},
		{name: "methods/post_body", status: 200, req: raw("POST /post_body HTTP/1.1", "Host: example.com", "Content-Type: application/x-www-form-urlencoded", "Content-Length: 7", "", "a=1&b=2")},
		{name: "methods/put_body", status: 200, req: raw("PUT /put_body HTTP/1.1", "Host: example.com", "Content-Length: 5", "", "hello")},
		{name: "methods/patch_body", status: 200, req: raw("PATCH /patch_body HTTP/1.1", "Host: example.com", "Content-Length: 2", "", "{}")},
		{name: "methods/delete", status: 200, req: raw("DELETE /delete HTTP/1.1", "Host: example.com")},
		{name: "methods/delete_with_body", status: 200, req: raw("DELETE /delete_with_body HTTP/1.1", "Host: example.com", "Content-Length: 3", "", "abc")},
		{name: "methods/options", status: 200, req: raw("OPTIONS /options HTTP/1.1", "Host: example.com")},
		{name: "methods/custom_method", status: 200, req: raw("PROPFIND /custom_method HTTP/1.1", "Host: example.com")},
		{name: "methods/lower_case_method", status: 400, req: raw("get /lower_case_method HTTP/1.1", "Host: example.com")},
		{name: "methods/post_content_length_zero", status: 200, req: raw("POST /post_content_length_zero HTTP/1.1", "Host: example.com", "Content-Length: 0")},
		{name: "methods/post_without_body", status: 200, req: raw("POST /post_without_body HTTP/1.1", "Host: example.com")},
		{name: "methods/chunked_upload", status: 200, req: raw("POST /chunked_upload HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked", "", "5", "hello", "6", " world", "0", "", "")},
		{name: "methods/chunked_upload_with_trailer", status: 200, req: raw("POST /chunked_upload_with_trailer HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked", "", "3", "abc", "0", "X-Sum: 1", "", "")},
		{name: "methods/expect_100_continue", status: 200, run: expectContinue},
		{name: "methods/http10", status: 200, req: raw("GET /http10 HTTP/1.0")},
		{name: "methods/http10_with_host", status: 200, req: raw("GET /http10_with_host HTTP/1.0", "Host: example.com")},
		{name: "methods/pipelined_keep_alive", status: 200, run: pipelined},

		// Errors and malformed requests.
		{name: "errors/upstream_closes_mid_response", status: 200, req: get("/close")},
		{name: "errors/upstream_closes_before_headers", status: 502, anyRetries: true, req: get("/close?before=headers")},
		{name: "errors/upstream_500_passed", status: 500, req: get("/status?code=500&h=X-App:err")},
		{name: "errors/upstream_404_passed", status: 404, req: get("/status?code=404")},
		{name: "errors/upstream_204", status: 204, req: get("/status?code=204&h=X-App:none")},
		{name: "errors/upstream_redirect", status: 302, req: get("/status?code=302&h=Location:/elsewhere")},
		{name: "errors/upstream_set_cookies", status: 200, req: get("/status?code=200&h=Set-Cookie:a=1&h=Set-Cookie:b=2")},
		{name: "errors/upstream_server_and_date_hidden", status: 200, req: get("/status?code=200&h=Server:app/1.0&h=Date:Thu,%2001%20Jan%201970%2000:00:00%20GMT&h=X-Powered-By:app")},
		{name: "errors/upstream_x_accel_headers_hidden", status: 200, req: get("/status?code=200&h=X-Accel-Buffering:no&h=X-Accel-Limit-Rate:1000&h=X-Pad:avoid")},
		{name: "errors/upstream_header_with_underscore_passed", status: 200, req: get("/status?code=200&h=X_App_Header:1")},
		{name: "errors/upstream_unknown_status", status: 599, req: get("/status?code=599")},
		{name: "errors/content_length_and_chunked", status: 400, req: raw("POST /content_length_and_chunked HTTP/1.1", "Host: example.com", "Content-Length: 3", "Transfer-Encoding: chunked", "", "3", "abc", "0", "", "")},
		{name: "errors/bad_content_length", status: 400, req: raw("POST /bad_content_length HTTP/1.1", "Host: example.com", "Content-Length: abc", "", "abc")},
		{name: "errors/negative_content_length", status: 400, req: raw("POST /negative_content_length HTTP/1.1", "Host: example.com", "Content-Length: -1", "", "")},
		{name: "errors/two_content_lengths", status: 400, req: raw("POST /two_content_lengths HTTP/1.1", "Host: example.com", "Content-Length: 3", "Content-Length: 4", "", "abcd")},
		{name: "errors/transfer_encoding_gzip", status: 501, req: raw("POST /transfer_encoding_gzip HTTP/1.1", "Host: example.com", "Transfer-Encoding: gzip", "", "")},
		{name: "errors/bad_chunk_size", status: 400, req: raw("POST /bad_chunk_size HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked", "", "zz", "abc", "0", "", "")},
		{name: "errors/header_name_with_space", status: 400, req: get("/header_name_with_space", "Bad Name: 1")},
		{name: "errors/header_name_with_control", status: 400, req: get("/header_name_with_control", "X-Ctl\x01: 1")},
		{name: "errors/header_without_colon", status: 200, req: get("/header_without_colon", "NoColon")},
		{name: "errors/header_folded", status: 400, req: get("/header_folded", "X-Fold: a", " b")},
		{name: "errors/http09", status: 0, differs: "HTTP/1.1 400 Bad Request", req: "GET /http09\r\n"},
		{name: "errors/http11_without_host", status: 400, req: raw("GET /http11_without_host HTTP/1.1")},
		{name: "errors/two_hosts", status: 400, req: raw("GET /two_hosts HTTP/1.1", "Host: example.com", "Host: other.test")},
		{name: "errors/host_with_slash", status: 400, req: raw("GET /host_with_slash HTTP/1.1", "Host: exa/mple.com")},
		{name: "errors/http_version_2", status: 505, req: raw("GET /http_version_2 HTTP/2.0", "Host: example.com")},
		{name: "errors/garbage_request_line", status: 400, req: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"},

		// Static files, served by the front itself.
		{name: "static/css", status: 200, req: get("/static/style.css")},
		{name: "static/js", status: 200, req: get("/static/app.js")},
		{name: "static/html", status: 200, req: get("/static/page.html")},
		{name: "static/json", status: 200, req: get("/static/data.json")},
		{name: "static/txt", status: 200, req: get("/static/notes.txt")},
		{name: "static/png", status: 200, req: get("/static/image.png")},
		{name: "static/svg", status: 200, req: get("/static/icon.svg")},
		{name: "static/woff2", status: 200, req: get("/static/font.woff2")},
		{name: "static/unknown_extension", status: 200, req: get("/static/archive.xyz")},
		{name: "static/empty_file", status: 200, req: get("/static/empty.txt")},
		{name: "static/encoded_name", status: 200, req: get("/static/with%20space.txt")},
		{name: "static/query_string_ignored", status: 200, req: get("/static/notes.txt?v=123")},
		{name: "static/head", status: 200, req: raw("HEAD /static/notes.txt HTTP/1.1", "Host: example.com")},
		{name: "static/post", status: 405, req: raw("POST /static/notes.txt HTTP/1.1", "Host: example.com", "Content-Length: 0")},
		{name: "static/if_modified_since_equal", status: 304, req: get("/static/notes.txt", "If-Modified-Since: "+lastMod)},
		{name: "static/if_modified_since_later", status: 200, req: get("/static/notes.txt", "If-Modified-Since: "+fixtureTime.Add(time.Hour).Format(http.TimeFormat))},
		{name: "static/if_modified_since_earlier", status: 200, req: get("/static/notes.txt", "If-Modified-Since: "+fixtureTime.Add(-time.Hour).Format(http.TimeFormat))},
		{name: "static/if_none_match", status: 304, req: get("/static/notes.txt", "If-None-Match: "+etag("notes.txt"))},
		{name: "static/if_none_match_other", status: 200, req: get("/static/notes.txt", `If-None-Match: "other"`)},
		{name: "static/range", status: 206, req: get("/static/notes.txt", "Range: bytes=0-9")},
		{name: "static/range_suffix", status: 206, req: get("/static/notes.txt", "Range: bytes=-5")},
		{name: "static/range_open_end", status: 206, req: get("/static/notes.txt", "Range: bytes=30-")},
		{name: "static/range_multiple", status: 206, differs: "HTTP/1.1 200 OK", req: get("/static/notes.txt", "Range: bytes=0-1,5-6")},
		{name: "static/range_unsatisfiable", status: 416, differs: "HTTP/1.1 416 Requested Range Not Satisfiable", req: get("/static/notes.txt", "Range: bytes=1000-2000")},
		{name: "static/range_if_range_mismatch", status: 200, req: get("/static/notes.txt", "Range: bytes=0-9", `If-Range: "other"`)},
		{name: "static/missing", status: 404, req: get("/static/missing.txt")},
		{name: "static/folder_without_slash", status: 301, req: get("/static/sub")},
		{name: "static/folder_without_index", status: 403, req: get("/static/sub/")},
		{name: "static/folder_with_index", status: 200, req: get("/static/withindex/")},
		{name: "static/symlink_inside_folder", status: 200, req: get("/static/link-in.txt")},
		{name: "static/symlink_leaving_folder", status: 200, differs: "HTTP/1.1 404 Not Found", req: get("/static/link-out.toml")},
		{name: "static/file_in_folder", status: 200, req: get("/static/sub/inner.txt")},
		{name: "static/prefix_without_slash_goes_to_app", status: 200, req: get("/static")},
		{name: "static/traversal_dot_dot", status: 200, req: get("/static/../stack.toml")},
		{name: "static/traversal_encoded_dots", status: 200, req: get("/static/%2e%2e/stack.toml")},
		{name: "static/traversal_encoded_slash", status: 200, req: get("/static/..%2fstack.toml")},
		{name: "static/traversal_double_encoded", status: 404, req: get("/static/%252e%252e/stack.toml")},
		{name: "static/traversal_inside_folder", status: 200, req: get("/static/sub/../notes.txt")},
		{name: "static/hidden_file_denied", status: 403, req: get("/static/.secret")},
		{name: "static/hidden_path_at_app_denied", status: 403, req: get("/.env")},
		{name: "static/git_folder_denied", status: 403, req: get("/.git/config")},
		{name: "static/well_known_goes_to_app", status: 200, req: get("/.well-known/security.txt")},
		{name: "static/second_folder_without_expires", status: 200, req: get("/assets/inner.txt")},
		{name: "static/second_folder_missing", status: 404, req: get("/assets/nothing.txt")},
		{name: "static/gzip_css", status: 200, req: get("/static/style.css", "Accept-Encoding: gzip")},

		// Streaming, upgrades, large bodies and gzip.
		{name: "stream/first_chunk_before_last_is_written", status: 200, run: streamFirstChunk},
		{name: "stream/chunked_response", status: 200, req: get("/stream?chunks=5")},
		{name: "stream/head_of_chunked_response", status: 200, req: raw("HEAD /stream?chunks=5 HTTP/1.1", "Host: example.com")},
		{name: "stream/websocket_round_trip", status: 101, run: websocketRoundTrip},
		{name: "stream/big_body", status: 200, req: get("/big?bytes=3000000")},
		{name: "gzip/json_with_accept_encoding", status: 200, req: get("/json_with_accept_encoding", "Accept-Encoding: gzip, deflate")},
		{name: "gzip/json_without_accept_encoding", status: 200, req: get("/json_without_accept_encoding")},
		{name: "gzip/text_big_body", status: 200, req: get("/big?bytes=100000&type=text/plain", "Accept-Encoding: gzip")},
		{name: "gzip/binary_not_compressed", status: 200, req: get("/big?bytes=100000", "Accept-Encoding: gzip")},
		{name: "gzip/http10_not_compressed", status: 200, req: raw("GET /http10_not_compressed HTTP/1.0", "Host: example.com", "Accept-Encoding: gzip")},
		{name: "gzip/already_encoded_by_app", status: 200, req: get("/status?code=200&h=Content-Encoding:br", "Accept-Encoding: gzip")},
		{name: "gzip/accept_encoding_q_zero", status: 200, req: get("/accept_encoding_q_zero", "Accept-Encoding: gzip;q=0")},
	}
	return cases
}

func manyHeaders(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("X-H%d: %d", i, i)
	}
	return out
}

func limitCases() []parityCase {
	body := func(n int) string { return strings.Repeat("b", n) }
	return []parityCase{
		{name: "limits/body_at_limit", status: 200, req: raw("POST /body_at_limit HTTP/1.1", "Host: example.com", "Content-Length: 1024", "", body(1024))},
		{name: "limits/body_over_limit", status: 413, req: raw("POST /body_over_limit HTTP/1.1", "Host: example.com", "Content-Length: 1025", "", body(1025))},
		{name: "limits/chunked_body_over_limit", status: 413, req: raw("POST /chunked_body_over_limit HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked", "", "800", body(2048), "0", "", "")},
		{name: "limits/expect_continue_over_limit", status: 413, req: raw("POST /expect_continue_over_limit HTTP/1.1", "Host: example.com", "Content-Length: 5000", "Expect: 100-continue")},
		{name: "limits/upstream_slower_than_read_timeout", status: 504, req: get("/sleep?ms=3000")},
		{name: "limits/upstream_within_read_timeout", status: 200, req: get("/sleep?ms=100")},
	}
}

// featuresOffCases run on a site with gzip, WebSocket and the security
// headers turned off.
func featuresOffCases() []parityCase {
	return []parityCase{
		{name: "gzip/off_json", status: 200, req: get("/off_json", "Accept-Encoding: gzip")},
		{name: "gzip/off_static_css", status: 200, req: get("/static/style.css", "Accept-Encoding: gzip")},
		{name: "security_headers/off_error_page", status: 404, req: get("/static/nothing-here")},
		{name: "websocket/off_upgrade_not_passed", status: 400, req: get("/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")},
		{name: "websocket/off_plain_request", status: 200, req: get("/off_plain", "Connection: keep-alive")},
	}
}

func downCases() []parityCase {
	return []parityCase{
		{name: "errors/upstream_down", status: 502, req: get("/down")},
		{name: "errors/upstream_down_post", status: 502, req: raw("POST /down HTTP/1.1", "Host: example.com", "Content-Length: 3", "", "abc")},
		{name: "errors/upstream_down_static_still_served", status: 200, req: get("/static/notes.txt")},
	}
}

// earlyAnswerCases: answers given before the request body was read, by
// the app (to an upload it rejects at once) or by the front itself (413, a
// redirect, a 403), to a client that writes its whole body before reading.
func earlyAnswerCases() []parityCase {
	upload := func(target, host string, size int) string {
		return raw("POST "+target+" HTTP/1.1", "Host: "+host, "Content-Length: "+strconv.Itoa(size), "", strings.Repeat("u", size))
	}
	return []parityCase{
		{name: "early/app_404_then_drains", status: 404, req: upload("/early?code=404&then=drain", "example.com", 5<<20)},
		{name: "early/own_413_client_keeps_sending", status: 413, req: upload("/own_413", "example.com", 9<<20)},
		{name: "early/own_redirect_client_keeps_sending", status: 301, req: upload("/own_301", "www.example.com", 4<<20)},
		{name: "early/own_403_client_keeps_sending", status: 403, req: upload("/.hidden", "example.com", 4<<20)},
	}
}

// expectContinue sends the head of a request with Expect: 100-continue,
// waits for the interim answer, then sends the body.
func expectContinue(t *testing.T, s *site, f front) (string, int) {
	c, err := Dial(f.addr, timeout)
	if err != nil {
		return fmt.Sprintf("dial: %v\n", err), -1
	}
	defer c.Close()
	c.Write([]byte(raw("POST /x HTTP/1.1", "Host: example.com", "Content-Length: 5", "Expect: 100-continue")))
	var b strings.Builder
	r, err := c.ReadHead()
	if err != nil {
		return fmt.Sprintf("no answer to the head: %v\n", err), -1
	}
	fmt.Fprintf(&b, "after the head: %d %s\n", r.Status, r.Reason)
	if r.Status == 100 {
		c.Write([]byte("hello"))
		r, err = c.ReadResponse("POST")
		if err != nil {
			return b.String() + fmt.Sprintf("no final answer: %v\n", err), -1
		}
	} else if r.Body, err = io.ReadAll(c.Body(r, "POST")); err != nil {
		r.Truncated = true
	}
	b.WriteString(View(r, ViewOptions{Method: "POST", FrontPort: f.port}))
	return b.String(), r.Status
}

// dribbleHead sends a request head one line every 400ms, 2.4s in all
// (client_header_timeout is 1s on the timing site), and says whether the
// front answered or closed.
func dribbleHead(t *testing.T, s *site, f front) (string, int) {
	c, err := Dial(f.addr, timeout)
	if err != nil {
		return fmt.Sprintf("dial: %v\n", err), -1
	}
	defer c.Close()
	lines := []string{"GET /dribble HTTP/1.1\r\n", "Host: example.com\r\n", "X-A: 1\r\n", "X-B: 2\r\n", "X-C: 3\r\n", "X-D: 4\r\n", "\r\n"}
	for i, l := range lines {
		if i > 0 {
			time.Sleep(400 * time.Millisecond)
		}
		c.Write([]byte(l)) // a write after the front closed may fail: the answer below says so
	}
	r, err := c.ReadResponse("GET")
	switch {
	case err == nil:
		return View(r, ViewOptions{Method: "GET", FrontPort: f.port}), r.Status
	case isTimeoutErr(err):
		return "no answer, the connection still open\n", -1
	}
	return "no answer, the connection closed\n", -1
}

func isTimeoutErr(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// pipelined sends two requests in one write and reads both answers.
func pipelined(t *testing.T, s *site, f front) (string, int) {
	c, err := Dial(f.addr, timeout)
	if err != nil {
		return fmt.Sprintf("dial: %v\n", err), -1
	}
	defer c.Close()
	c.Write([]byte(get("/first") + raw("POST /second HTTP/1.1", "Host: example.com", "Content-Length: 2", "", "ok")))
	var b strings.Builder
	status := -1
	for i, m := range []string{"GET", "POST"} {
		r, err := c.ReadResponse(m)
		if err != nil {
			fmt.Fprintf(&b, "answer %d: %v\n", i+1, err)
			break
		}
		status = r.Status
		fmt.Fprintf(&b, "answer %d:\n%s", i+1, View(r, ViewOptions{Method: m, FrontPort: f.port}))
	}
	return b.String(), status
}

// streamFirstChunk checks that the first chunk of a streamed answer reaches
// the client while the upstream still holds the rest: the Echo writes the
// second chunk only after the client has read the first.
func streamFirstChunk(t *testing.T, s *site, f front) (string, int) {
	gate := fmt.Sprintf("%s-%d", f.name, time.Now().UnixNano())
	defer s.echos[0].Release(gate)
	c, err := Dial(f.addr, timeout)
	if err != nil {
		return fmt.Sprintf("dial: %v\n", err), -1
	}
	defer c.Close()
	c.Write([]byte(get("/stream?chunks=3&gate=" + gate)))
	r, err := c.ReadHead()
	if err != nil {
		return fmt.Sprintf("no head before the upstream finished: %v\n", err), -1
	}
	body := c.Body(r, "GET")
	first := make([]byte, len("chunk 0\n"))
	var b strings.Builder
	if _, err := io.ReadFull(body, first); err != nil {
		fmt.Fprintf(&b, "first chunk not received while the upstream waits: %v\n", err)
		return b.String(), r.Status
	}
	b.WriteString("first chunk arrived before the upstream wrote the rest\n")
	s.echos[0].Release(gate)
	c.Extend()
	rest, err := io.ReadAll(body)
	if err != nil {
		r.Truncated = true
	}
	r.Body = append(first, rest...)
	b.WriteString(View(r, ViewOptions{Method: "GET", FrontPort: f.port}))
	return b.String(), r.Status
}

// websocketRoundTrip upgrades through the front with gorilla/websocket as
// the client, shows what the upstream saw in the handshake (the Echo's first
// message) and echoes two messages.
func websocketRoundTrip(t *testing.T, s *site, f front) (string, int) {
	d := websocket.Dialer{HandshakeTimeout: timeout}
	ws, resp, err := d.Dial("ws://"+f.addr+"/ws?room=1", http.Header{"Host": {"example.com"}, "X-Client": {"1"}})
	if err != nil {
		status := -1
		if resp != nil {
			status = resp.StatusCode
		}
		return fmt.Sprintf("handshake failed: %v (status %d)\n", err, status), status
	}
	defer ws.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d\n", resp.Proto, resp.StatusCode)
	// Sec-WebSocket-Accept differs per handshake; the Dialer has checked it.
	for _, h := range []string{"Upgrade", "Connection", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol"} {
		fmt.Fprintf(&b, "header %s: %q\n", strings.ToLower(h), resp.Header.Values(h))
	}
	ws.SetReadDeadline(time.Now().Add(timeout))
	_, first, err := ws.ReadMessage()
	if err != nil {
		return b.String() + fmt.Sprintf("no handshake echo: %v\n", err), resp.StatusCode
	}
	var seen Seen
	if err := json.Unmarshal(first, &seen); err != nil {
		return b.String() + fmt.Sprintf("handshake echo %q: %v\n", first, err), resp.StatusCode
	}
	// Sec-WebSocket-Key is random per handshake.
	for i, h := range seen.Headers {
		if strings.EqualFold(h.Name, "Sec-WebSocket-Key") {
			seen.Headers[i].Value = "(random)"
		}
	}
	b.WriteString(SeenView(&seen))
	for _, msg := range []string{"hello", strings.Repeat("w", 100000)} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			fmt.Fprintf(&b, "send: %v\n", err)
			break
		}
		_, got, err := ws.ReadMessage()
		fmt.Fprintf(&b, "echo of %d bytes: equal=%v err=%v\n", len(msg), string(got) == msg, err)
	}
	return b.String(), resp.StatusCode
}

// sequence sends n requests one after another and shows which upstream
// answered each.
func sequence(n int) func(t *testing.T, s *site, f front) (string, int) {
	return func(t *testing.T, s *site, f front) (string, int) {
		var b strings.Builder
		status := 0
		for i := range n {
			r, err := Do(f.addr, []byte(get(fmt.Sprintf("/rr/%d", i))), "GET", timeout)
			if err != nil {
				fmt.Fprintf(&b, "request %d: %v\n", i, err)
				return b.String(), -1
			}
			fmt.Fprintf(&b, "request %d: %d from %q\n", i, r.Status, r.Header(EchoServerHeader))
			if status == 0 || r.Status != 200 {
				status = r.Status
			}
		}
		return b.String(), status
	}
}

// keepaliveReuse sends requests one after another and reports whether the
// front sent a later one on an upstream connection it kept open.
func keepaliveReuse(t *testing.T, s *site, f front) (string, int) {
	var b strings.Builder
	reused := false
	for i := range 3 {
		r, err := Do(f.addr, []byte(get("/ka")), "GET", timeout)
		if err != nil {
			return fmt.Sprintf("request %d: %v\n", i, err), -1
		}
		if r.Header(EchoConnRequestHeader) != "1" {
			reused = true
		}
		if i == 2 {
			fmt.Fprintf(&b, "an upstream connection served more than one request: %v\n", reused)
			b.WriteString(View(r, ViewOptions{Method: "GET", FrontPort: f.port}))
			return b.String(), r.Status
		}
	}
	return "", -1
}
