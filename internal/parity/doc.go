// Package parity proves that the embedded proxy (internal/proxy) behaves like
// real nginx running the site that internal/nginx renders from the same
// stack.Config.
//
// The package holds the tools of that differential test suite, usable on
// their own:
//
//   - Echo, an HTTP/1.1 upstream on loopback that answers with what it
//     received, byte for byte (method, raw request-target, header lines in
//     order, body length and hash), plus endpoints that sleep, stream, send
//     large bodies, answer a given status, close mid-response and echo
//     WebSocket messages;
//   - Conn and Do, a raw HTTP/1.1 client that sends exact bytes (malformed
//     requests included) and parses the response without normalising it;
//   - View and Diff, the documented normalisation that turns a response into
//     comparable text, and a unified diff of two such texts.
//
// The suite itself (parity_test.go) starts nginx and the proxy in front of the
// same Echo and sends every case to both. DIFFERENCES.md lists the intentional
// differences between the two fronts.
package parity
