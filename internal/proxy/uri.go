package proxy

import "strings"

// normalizePath returns the path nginx matches locations against ($uri):
// the part before '?' or '#', percent-decoded, with "//" merged (merge_slashes on)
// and "." and ".." segments resolved. ok is false where nginx answers 400:
// a bad or NUL escape, or ".." climbing above the root.
func normalizePath(uri []byte) (string, bool) {
	end := len(uri)
	for i, c := range uri {
		if c == '?' || c == '#' {
			end = i
			break
		}
	}
	raw := uri[:end]
	simple := true
	for _, c := range raw {
		if c == '%' || c == '.' {
			simple = false
			break
		}
	}
	if simple && !containsDoubleSlash(raw) {
		return string(raw), true
	}
	dec := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return "", false
			}
			h, ok1 := unhex(raw[i+1])
			l, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 || h == 0 && l == 0 {
				return "", false
			}
			c = h<<4 | l
			i += 2
		}
		dec = append(dec, c)
	}
	// Resolve segments; keep a trailing slash.
	segs := strings.Split(string(dec), "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case "":
			trailing = last
			continue
		case ".":
			trailing = last
			continue
		case "..":
			if len(out) == 0 {
				return "", false
			}
			out = out[:len(out)-1]
			trailing = last
			continue
		}
		out = append(out, s)
		trailing = false
	}
	p := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		p += "/"
	}
	return p, true
}

func containsDoubleSlash(b []byte) bool {
	for i := 1; i < len(b); i++ {
		if b[i] == '/' && b[i-1] == '/' {
			return true
		}
	}
	return false
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
