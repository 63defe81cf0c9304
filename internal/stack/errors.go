package stack

import (
	"fmt"
	"strings"
)

// FieldError is a problem with one key of stack.toml. Its message names the
// file and line when known, the key's path and the offending value:
//
//	stack.toml:12: serve.listen: 70000 is not a port (1–65535)
type FieldError struct {
	File  string // the stack.toml path, when loaded from a file
	Line  int    // 1-based line of the key, 0 when unknown
	Field string // dotted key path: "proxy.static[0].dir"
	Msg   string // what is wrong, naming the value
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Field)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationError lists every FieldError of a Config.
type ValidationError struct {
	Errors []*FieldError
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the field errors, so errors.As finds a *FieldError.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		out[i] = fe
	}
	return out
}

// SyntaxError is a TOML syntax error at a line and column of a file.
type SyntaxError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}
