package supervise

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Command is an app.command or app.build line made ready to run without a
// shell in between, so signals reach the program itself.
type Command struct {
	// Args is the program and its arguments, variables already expanded.
	// When Shell is true it is ["sh", "-c", script].
	Args []string
	// Env holds NAME=value assignments written before the program
	// ("DEBUG=1 ./app"); they are added to the program's environment.
	Env []string
	// Shell reports that the line needs sh (pipes, redirections, globs,
	// command substitution...). A line with no control operator becomes
	// `sh -c 'exec LINE'`, so sh replaces itself with the program; a line
	// with ;, &&, |, & or ( keeps sh as the program's parent.
	Shell bool
}

// String returns the command as it will run, for messages.
func (c Command) String() string {
	if c.Shell {
		return c.Args[2]
	}
	words := append([]string(nil), c.Env...)
	for _, a := range c.Args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`|&;<>()*?[#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

var assignRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// ParseCommand splits a command line into words the way sh does for the
// simple cases — blanks separate words; '…' quotes literally; "…" quotes
// with \ escaping $ ` " \; \ escapes one character; $NAME and ${NAME} are
// replaced by lookup(NAME) outside single quotes; leading NAME=value words
// are assignments; # at the start of a word begins a comment — and falls
// back to sh -c for anything more (see Command.Shell). lookup may be nil.
func ParseCommand(line string, lookup func(string) string) (Command, error) {
	if lookup == nil {
		lookup = func(string) string { return "" }
	}
	p := &wordParser{in: line, lookup: lookup}
	words, err := p.parse()
	if err != nil {
		return Command{}, err
	}
	if p.shell {
		script := line
		if !p.compound && !p.assign[0] {
			// "exec VAR=1 prog" is no command: a line that starts with
			// an assignment runs as written (sh forks the program).
			script = "exec " + strings.TrimSpace(line)
		}
		return Command{Args: []string{"sh", "-c", script}, Shell: true}, nil
	}
	var cmd Command
	for i, w := range words {
		if p.assign[i] && len(cmd.Args) == 0 {
			cmd.Env = append(cmd.Env, w)
			continue
		}
		cmd.Args = append(cmd.Args, w)
	}
	if len(cmd.Args) == 0 {
		return Command{}, fmt.Errorf("%q has no program to run", line)
	}
	return cmd, nil
}

type wordParser struct {
	in     string
	pos    int
	lookup func(string) string

	shell    bool // needs sh
	compound bool // has control operators: sh cannot simply exec
	assign   map[int]bool
}

func (p *wordParser) parse() ([]string, error) {
	var words []string
	p.assign = map[int]bool{}
	var w strings.Builder
	inWord, wordStart := false, 0
	end := func() {
		if inWord {
			if assignRE.MatchString(p.in[wordStart:p.pos]) {
				p.assign[len(words)] = true
			}
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		if !inWord && c == '\\' && strings.HasPrefix(p.in[p.pos+1:], "\n") {
			p.pos += 2 // a line continuation between words
			continue
		}
		if !inWord && c != ' ' && c != '\t' {
			inWord, wordStart = true, p.pos
			switch c {
			case '#':
				// A comment runs to the end of the line.
				if i := strings.IndexByte(p.in[p.pos:], '\n'); i >= 0 {
					p.pos += i
				} else {
					p.pos = len(p.in)
				}
				inWord = false
				continue
			case '~':
				p.shell = true
			}
		}
		switch c {
		case ' ', '\t':
			end()
			p.pos++
		case '\n', ';', '&', '|', '(', ')':
			p.shell, p.compound = true, true
			end()
			p.pos++
		case '<', '>':
			// A redirection; its & (2>&1) is no control operator.
			p.shell = true
			w.WriteByte(c)
			p.pos++
			if p.pos < len(p.in) && (p.in[p.pos] == '&' || p.in[p.pos] == '>') {
				w.WriteByte(p.in[p.pos])
				p.pos++
			}
		case '`':
			p.shell = true
			p.substitution(&w, '`')
		case '*', '?', '[':
			p.shell = true
			w.WriteByte(c)
			p.pos++
		case '\'':
			i := strings.IndexByte(p.in[p.pos+1:], '\'')
			if i < 0 {
				return nil, fmt.Errorf("%q: a ' is not closed", p.in)
			}
			w.WriteString(p.in[p.pos+1 : p.pos+1+i])
			p.pos += i + 2
		case '"':
			if err := p.doubleQuoted(&w); err != nil {
				return nil, err
			}
		case '\\':
			if p.pos+1 >= len(p.in) {
				return nil, fmt.Errorf("%q ends with a lone \\", p.in)
			}
			if p.in[p.pos+1] != '\n' { // \ newline joins lines
				w.WriteByte(p.in[p.pos+1])
			}
			p.pos += 2
		case '$':
			p.dollar(&w, false)
		default:
			w.WriteByte(c)
			p.pos++
		}
	}
	end()
	return words, nil
}

// doubleQuoted reads "…" starting at p.pos.
func (p *wordParser) doubleQuoted(w *strings.Builder) error {
	p.pos++
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		switch c {
		case '"':
			p.pos++
			return nil
		case '\\':
			if p.pos+1 < len(p.in) && strings.IndexByte("$`\"\\\n", p.in[p.pos+1]) >= 0 {
				if p.in[p.pos+1] != '\n' {
					w.WriteByte(p.in[p.pos+1])
				}
				p.pos += 2
				continue
			}
			w.WriteByte(c)
			p.pos++
		case '`':
			p.shell = true
			p.substitution(w, '`')
		case '$':
			p.dollar(w, true)
		default:
			w.WriteByte(c)
			p.pos++
		}
	}
	return fmt.Errorf("%q: a \" is not closed", p.in)
}

// substitution copies a command substitution (`…` or $(…)) starting at
// p.pos, whose text only sh can run, to w.
func (p *wordParser) substitution(w *strings.Builder, open byte) {
	depth, start := 0, p.pos
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		p.pos++
		switch {
		case c == '\\':
			p.pos++
		case open == '`' && c == '`' && p.pos-1 != start:
			w.WriteString(p.in[start:min(p.pos, len(p.in))])
			return
		case open == '(' && c == '(':
			depth++
		case open == '(' && c == ')':
			depth--
			if depth == 0 {
				w.WriteString(p.in[start:p.pos])
				return
			}
		}
	}
	w.WriteString(p.in[start:])
}

// dollar expands $NAME or ${NAME} at p.pos; anything else a shell would
// do with $ ($(…), ${NAME:-x}, $1, $?) makes the line need sh, as does an
// unquoted value that sh would split into words or expand as a glob.
func (p *wordParser) dollar(w *strings.Builder, quoted bool) {
	rest := p.in[p.pos+1:]
	value, n := "", 0
	if n = nameLen(rest); n > 0 {
		value = p.lookup(rest[:n])
		n++
	} else if k := nameLen(rest[min(1, len(rest)):]); strings.HasPrefix(rest, "{") && k > 0 && len(rest) > k+1 && rest[k+1] == '}' {
		value = p.lookup(rest[1 : k+1])
		n = k + 3
	}
	if n > 0 {
		if !quoted && strings.ContainsAny(value, " \t\n*?[") {
			p.shell = true
		}
		w.WriteString(value)
		p.pos += n
		return
	}
	if strings.HasPrefix(rest, "(") {
		p.shell = true
		w.WriteByte('$')
		p.pos++
		p.substitution(w, '(')
		return
	}
	if rest != "" && strings.IndexByte("({0123456789?$!#@*-", rest[0]) >= 0 {
		p.shell = true
	}
	// A $ before anything else is a literal $, as in sh.
	w.WriteByte('$')
	p.pos++
}

func nameLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return i
	}
	return len(s)
}

// flaskAdjust makes a Flask command use the project's virtualenv and, when
// public is true, turns the Werkzeug debugger off: it runs code for whoever
// reaches it. It reports whether it removed --debug.
func flaskAdjust(cmd *Command, dir string, public bool) (debugOff bool) {
	venv := filepath.Join(dir, ".venv", "bin")
	hasVenv := isFile(filepath.Join(venv, "python"))
	if cmd.Shell {
		if public && debugRE.MatchString(cmd.Args[2]) {
			cmd.Args[2] = debugRE.ReplaceAllString(cmd.Args[2], "$1")
			debugOff = true
		}
	} else {
		switch cmd.Args[0] {
		case "python", "python3":
			cmd.Args[0] = "python3" // Debian has no "python"
			if hasVenv {
				cmd.Args[0] = filepath.Join(venv, "python")
			}
		case "flask":
			if isFile(filepath.Join(venv, "flask")) {
				cmd.Args[0] = filepath.Join(venv, "flask")
			}
		}
		if public {
			kept := cmd.Args[:0]
			for _, a := range cmd.Args {
				if a == "--debug" {
					debugOff = true
					continue
				}
				kept = append(kept, a)
			}
			cmd.Args = kept
		}
	}
	if public {
		cmd.Env = append(cmd.Env, "FLASK_DEBUG=0")
	}
	return debugOff
}

var debugRE = regexp.MustCompile(`(^|\s)--debug(\s|$)`)

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
