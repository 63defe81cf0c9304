package ui

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Visible returns s with every character that could drive a terminal
// written out instead: C0 controls but tab (\x1b for ESC, so an escape
// sequence cannot recolor, move the cursor or retitle the window), DEL,
// C1 controls (\u009b), the marks that reorder text (bidi overrides and
// isolates, \u202e) and bytes that are not UTF-8 (\xff). Everything else,
// valid UTF-8 in any script, is kept as it is. For text from servers
// (logs) before it reaches the terminal.
func Visible(s string) string {
	if !hasUnsafeRune(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 && r != '\t', r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0, isBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func hasUnsafeRune(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r < 0x20 && r != '\t') || (r >= 0x7f && r < 0xa0) || isBidiControl(r) {
			return true
		}
		i += size
	}
	return false
}

// isBidiControl reports the marks that reorder the text around them
// (U+202A–U+202E, U+2066–U+2069).
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
