package ui

import (
	"errors"
	"fmt"
)

// FixError is an error that says how to fix it. stackctl prints it as
// "error: <what> — <how to fix>".
type FixError struct {
	Err error
	Fix string
}

func (e *FixError) Error() string {
	if e.Fix == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + " — " + e.Fix
}

func (e *FixError) Unwrap() error { return e.Err }

// WithFix attaches a fix to err; nil stays nil.
func WithFix(err error, fix string) error {
	if err == nil {
		return nil
	}
	return &FixError{Err: err, Fix: fix}
}

// Errorf is fmt.Errorf plus a fix.
func Errorf(fix, format string, args ...any) error {
	return &FixError{Err: fmt.Errorf(format, args...), Fix: fix}
}

// UsageError is a mistake in how a command was called (bad flag, wrong
// arguments, invalid flag value): stackctl exits 2 for it.
type UsageError struct {
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a *UsageError with a fix.
func Usagef(fix, format string, args ...any) error {
	return &UsageError{Err: Errorf(fix, format, args...)}
}

// ExitCode returns the process exit code for err: 0 for nil, 2 for usage
// errors, 1 otherwise. An error carrying its own code (ExitError) keeps it.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// ExitError ends the command with Code after its output was already
// printed (doctor's failed checks, say); its message may be empty.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }
