package ui

import "testing"

func TestVisible(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, tab\there", "plain text, tab\there"},
		{"héllo wörld — 日本語 🙂", "héllo wörld — 日本語 🙂"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"\x1b]0;pwned\x07title", `\x1b]0;pwned\x07title`},
		{"cr\rover", `cr\x0dover`},
		{"nul\x00bell\x07del\x7f", `nul\x00bell\x07del\x7f`},
		{"c1 csi \u009b31m", `c1 csi \u009b31m`},
		{"bidi \u202eevil\u202c \u2066x\u2069", `bidi \u202eevil\u202c \u2066x\u2069`},
		{"bad utf-8 \xff\xfe end", `bad utf-8 \xff\xfe end`},
		{"a\\x1b stays", "a\\x1b stays"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Visible(tt.in); got != tt.want {
			t.Errorf("Visible(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
