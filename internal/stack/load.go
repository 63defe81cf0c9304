package stack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// ErrNotFound is returned by Find when no stack.toml is in the folder or
// any parent.
var ErrNotFound = errors.New("no " + FileName + " here or in any parent folder")

// Find returns the path of the stack.toml in dir or its nearest parent, the
// way git finds .git and go finds go.mod.
func Find(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(abs, FileName)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return "", ErrNotFound
		}
		abs = parent
	}
}

// Load reads, completes and validates the stack.toml at path. Errors are a
// *SyntaxError, a *ValidationError (file:line for each field), or an I/O error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(path); err == nil {
		c.Path = abs
	}
	return c, nil
}

// Parse decodes a stack.toml held in memory; filename is used in messages.
// Keys the file leaves out keep their defaults. The result is validated.
func Parse(data []byte, filename string) (*Config, error) {
	c := base()
	md, err := toml.Decode(string(data), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := pe.Message
			if pe.LastKey != "" && !strings.Contains(msg, pe.LastKey) {
				msg = fmt.Sprintf("%s (after key %q)", msg, pe.LastKey)
			}
			line, col := syntaxPosition(data, pe)
			return nil, &SyntaxError{File: filename, Line: line, Column: col, Msg: msg}
		}
		if m := typeErrRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &ValidationError{Errors: []*FieldError{{File: filename, Line: line, Field: m[2], Msg: m[3]}}}
		}
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	lines := keyLines(data)
	var errs []*FieldError
	unknown := map[string]bool{}
	for _, k := range md.Undecoded() {
		path := k.String()
		unknown[path] = true
		if underUnknown(k, unknown) {
			continue // [prxy] is reported; its keys would only repeat it
		}
		msg := "unknown key"
		if s := suggest(k); s != "" {
			msg += fmt.Sprintf(": did you mean %q?", s)
		}
		errs = append(errs, &FieldError{Field: path, Msg: msg})
	}
	c.fillDefaults(md.IsDefined)
	if err := c.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			for _, fe := range ve.Errors {
				// A bad name makes the defaults derived from it bad too;
				// report the name, not each consequence the file never set.
				if nameDerived[fe.Field] && ValidateName(c.Name) != nil && !md.IsDefined(strings.Split(fe.Field, ".")...) {
					continue
				}
				errs = append(errs, fe)
			}
		}
	}
	if len(errs) == 0 {
		return c, nil
	}
	for _, fe := range errs {
		fe.File = filename
		fe.Line = lineOf(lines, fe.Field)
	}
	// In line order; errors without a line last.
	sort.SliceStable(errs, func(i, j int) bool {
		li, lj := errs[i].Line, errs[j].Line
		return li != 0 && (lj == 0 || li < lj)
	})
	return nil, &ValidationError{Errors: errs}
}

// nameDerived are the fields whose defaults are made from the name.
var nameDerived = map[string]bool{
	"nginx.app_dir": true, "nginx.access_log": true, "nginx.error_log": true,
	"deploy.user": true, "deploy.service": true,
}

// syntaxPosition corrects the decoder's position for two cases it reports
// one line too far: an unexpected newline (it is at the end of the line
// before) and the end of the file (the end of the last line).
func syntaxPosition(data []byte, pe toml.ParseError) (line, col int) {
	line, col = pe.Position.Line, pe.Position.Col
	lines := strings.Split(string(data), "\n")
	switch {
	case strings.Contains(pe.Message, `got '\n'`) && line > 1:
		line--
		if line <= len(lines) {
			col = len(lines[line-1]) + 1
		}
	case strings.Contains(pe.Message, "end of file"):
		line = len(lines)
		col = len(lines[line-1]) + 1
	}
	return line, col
}

// typeErrRE matches the decoder's message for a value of the wrong type.
var typeErrRE = regexp.MustCompile(`line (\d+) \(last key "([^"]+)"\): (.*)`)

// underUnknown reports whether a parent table of k is an unknown key
// already seen (Undecoded lists a table before its keys).
func underUnknown(k toml.Key, unknown map[string]bool) bool {
	for i := 1; i < len(k); i++ {
		if unknown[k[:i].String()] {
			return true
		}
	}
	return false
}

var (
	tableRE = regexp.MustCompile(`^\s*(\[\[?)\s*([A-Za-z0-9_.\-" ]+?)\s*\]\]?`)
	keyRE   = regexp.MustCompile(`^\s*([A-Za-z0-9_.\-"]+)\s*=`)
)

// keyLines maps each key path of a (syntactically valid) file to its line.
// Array tables get an index: "proxy.static[1].dir".
func keyLines(data []byte) map[string]int {
	out := map[string]int{}
	counts := map[string]int{}
	table := ""
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		if m := tableRE.FindStringSubmatch(line); m != nil {
			name := strings.ReplaceAll(m[2], `"`, "")
			if m[1] == "[[" {
				table = fmt.Sprintf("%s[%d]", name, counts[name])
				counts[name]++
			} else {
				table = name
			}
			if _, ok := out[table]; !ok {
				out[table] = n
			}
			if _, ok := out[name]; !ok {
				out[name] = n
			}
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			k := strings.ReplaceAll(m[1], `"`, "")
			if table != "" {
				k = table + "." + k
			}
			if _, ok := out[k]; !ok {
				out[k] = n
			}
		}
	}
	return out
}

var indexRE = regexp.MustCompile(`\[\d+\]$`)

var anyIndexRE = regexp.MustCompile(`\[\d+\]`)

// lineOf finds the line of a field path, falling back to its parents. A
// path without array indexes ("proxy.static.expire", as the decoder names
// unknown keys) matches its first indexed occurrence.
func lineOf(lines map[string]int, field string) int {
	for f := field; f != ""; {
		if n, ok := lines[f]; ok {
			return n
		}
		if !strings.Contains(f, "[") {
			best := 0
			for k, n := range lines {
				if strings.Contains(k, "[") && anyIndexRE.ReplaceAllString(k, "") == f && (best == 0 || n < best) {
					best = n
				}
			}
			if best > 0 {
				return best
			}
		}
		if loc := indexRE.FindStringIndex(f); loc != nil && loc[1] == len(f) {
			if n, ok := lines[f[:loc[0]]]; ok {
				return n
			}
		}
		i := strings.LastIndex(f, ".")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

// knownKeys lists every key path of the schema ("proxy.static.url").
func knownKeys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("toml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			p := prefix + tag
			out = append(out, p)
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft, p+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}

// suggest returns the known key nearest to an unknown one, or "".
func suggest(k toml.Key) string {
	parent := strings.Join(k[:len(k)-1], ".")
	last := k[len(k)-1]
	limit := max(2, len(last)/3)
	best, bestD := "", limit+1
	for _, known := range knownKeys() {
		kp, kl := "", known
		if i := strings.LastIndex(known, "."); i >= 0 {
			kp, kl = known[:i], known[i+1:]
		}
		if kp != parent {
			continue
		}
		if d := levenshtein(last, kl); d < bestD {
			best, bestD = known, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
