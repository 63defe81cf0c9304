package supervise

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DotEnvFile is the file of the project whose variables serve adds to the
// app's environment, on top of app.env, as foreman does.
const DotEnvFile = ".env"

// ParseDotEnv parses a .env file the way foreman reads one:
//
//	# a comment
//	NAME=value            # blanks around the value are trimmed; " #" starts a comment
//	export NAME=value     # "export " is allowed and ignored
//	NAME='single quoted'  # literal, may span lines
//	NAME="double quoted"  # \n, \t, \", \\ and \$ are escapes, may span lines
//	NAME=                 # empty
//
// Variables are not expanded. filename is used in error messages, which
// name the line.
func ParseDotEnv(data []byte, filename string) (map[string]string, error) {
	env := map[string]string{}
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	line := 1
	for s != "" {
		var raw string
		raw, s, _ = strings.Cut(s, "\n")
		start := line
		line++
		t := strings.TrimSpace(raw)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		t = strings.TrimPrefix(t, "export ")
		name, value, ok := strings.Cut(t, "=")
		name = strings.TrimSpace(name)
		if !ok || nameLen(name) != len(name) || name == "" {
			return nil, fmt.Errorf("%s:%d: %q is not NAME=value", filename, start, strings.TrimSpace(raw))
		}
		value = strings.TrimLeft(value, " \t")
		if value != "" && (value[0] == '\'' || value[0] == '"') {
			q := value[0]
			body := value[1:]
			// A quoted value may go on over the following lines.
			for closeQuote(body, q) < 0 && s != "" {
				var next string
				next, s, _ = strings.Cut(s, "\n")
				line++
				body += "\n" + next
			}
			i := closeQuote(body, q)
			if i < 0 {
				return nil, fmt.Errorf("%s:%d: %s: the %c is not closed", filename, start, name, q)
			}
			if after := strings.TrimSpace(body[i+1:]); after != "" && !strings.HasPrefix(after, "#") {
				return nil, fmt.Errorf("%s:%d: %s: unexpected %q after the closing %c", filename, start, name, after, q)
			}
			body = body[:i]
			if q == '"' {
				body = unescapeDouble(body)
			}
			env[name] = body
			continue
		}
		if i := strings.Index(value, " #"); i >= 0 {
			value = value[:i]
		} else if i := strings.Index(value, "\t#"); i >= 0 {
			value = value[:i]
		}
		env[name] = strings.TrimSpace(value)
	}
	return env, nil
}

// closeQuote finds the closing quote q in s, honoring \" inside "…".
func closeQuote(s string, q byte) int {
	for i := 0; i < len(s); i++ {
		if q == '"' && s[i] == '\\' {
			i++
			continue
		}
		if s[i] == q {
			return i
		}
	}
	return -1
}

func unescapeDouble(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '"', '\\', '$':
			b.WriteByte(s[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// readDotEnv reads dir/.env; a missing file is no variables.
func readDotEnv(dir string) (map[string]string, error) {
	p := filepath.Join(dir, DotEnvFile)
	data, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseDotEnv(data, p)
}

// mergeEnv returns base ("NAME=value" entries) with each layer's variables
// set on top, later layers winning; names keep their first position.
func mergeEnv(base []string, layers ...map[string]string) []string {
	out := append([]string(nil), base...)
	index := map[string]int{}
	for i, kv := range out {
		name, _, _ := strings.Cut(kv, "=")
		index[name] = i
	}
	for _, layer := range layers {
		names := make([]string, 0, len(layer))
		for n := range layer {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			kv := n + "=" + layer[n]
			if i, ok := index[n]; ok {
				out[i] = kv
			} else {
				index[n] = len(out)
				out = append(out, kv)
			}
		}
	}
	return out
}

// envList turns "NAME=value" entries into a map.
func envMap(list []string) map[string]string {
	m := make(map[string]string, len(list))
	for _, kv := range list {
		n, v, _ := strings.Cut(kv, "=")
		m[n] = v
	}
	return m
}

// lookupIn returns a lookup function over "NAME=value" entries.
func lookupIn(env []string) func(string) string {
	m := envMap(env)
	return func(n string) string { return m[n] }
}
