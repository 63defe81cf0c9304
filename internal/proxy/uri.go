package proxy

import "bytes"

// normalizePath returns the path nginx matches locations against ($uri):
// the part before '?' or '#', percent-decoded, with "//" merged (merge_slashes on)
// and "." and ".." segments resolved. ok is false where nginx answers 400:
// a bad or NUL escape, or ".." climbing above the root.
func normalizePath(uri []byte) (string, bool) {
	raw := uri
	if i := bytes.IndexAny(uri, "?#"); i >= 0 {
		raw = uri[:i]
	}
	if !needsNormalizing(raw) {
		return string(raw), true
	}
	dec, ok := percentDecode(raw)
	if !ok {
		return "", false
	}
	return resolveSegments(dec)
}

// needsNormalizing reports whether path (which starts with '/') has
// anything normalizePath changes: an escape, an empty segment before the
// last ("//") or a "." or ".." segment. Most paths have none.
func needsNormalizing(path []byte) bool {
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '%':
			return true
		case '/':
			rest := path[i+1:]
			if len(rest) > 0 && rest[0] == '/' || dotSegment(rest) {
				return true
			}
		}
	}
	return false
}

// dotSegment reports whether rest, the part of a path after a '/', starts
// with a "." or ".." segment.
func dotSegment(rest []byte) bool {
	n := 0
	for n < len(rest) && n < 3 && rest[n] == '.' {
		n++
	}
	return (n == 1 || n == 2) && (n == len(rest) || rest[n] == '/')
}

// percentDecode decodes %XX escapes; a bad or NUL escape is refused.
func percentDecode(raw []byte) ([]byte, bool) {
	dec := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return nil, false
			}
			h, ok1 := unhex(raw[i+1])
			l, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 || h == 0 && l == 0 {
				return nil, false
			}
			c = h<<4 | l
			i += 2
		}
		dec = append(dec, c)
	}
	return dec, true
}

// resolveSegments merges empty segments and resolves "." and ".."; a path
// that ended in a folder ("/a/", "/a/.", "/a/b/..") keeps its trailing
// slash. ok is false when ".." climbs above the root.
func resolveSegments(p []byte) (string, bool) {
	out := make([]byte, 0, len(p)+1) // "/seg/seg"
	trailing := false
	for start := 0; start <= len(p); {
		end := bytes.IndexByte(p[start:], '/')
		if end < 0 {
			end = len(p)
		} else {
			end += start
		}
		seg, last := p[start:end], end == len(p)
		switch string(seg) {
		case "", ".":
			trailing = last
		case "..":
			if len(out) == 0 {
				return "", false
			}
			out = out[:bytes.LastIndexByte(out, '/')]
			trailing = last
		default:
			out = append(out, '/')
			out = append(out, seg...)
			trailing = false
		}
		start = end + 1
	}
	if len(out) == 0 {
		return "/", true
	}
	if trailing {
		out = append(out, '/')
	}
	return string(out), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
