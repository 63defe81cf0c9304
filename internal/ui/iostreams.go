// Package ui holds what stackctl knows about the terminal: the I/O streams and
// whether they are terminals, color, prompts and how errors look. Commands
// get these as values, so every command runs in tests without a terminal.
package ui

import (
	"bytes"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams are a command's standard streams and the terminal facts about them.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// InTTY, OutTTY and ErrTTY report whether each stream is a terminal.
	InTTY, OutTTY, ErrTTY bool
	// NoColor turns color off (--no-color, or NO_COLOR in the environment).
	NoColor bool
}

// System returns the process's streams, with terminal detection and NO_COLOR.
func System() *IOStreams {
	return &IOStreams{
		In:      os.Stdin,
		Out:     os.Stdout,
		ErrOut:  os.Stderr,
		InTTY:   isTerminal(os.Stdin),
		OutTTY:  isTerminal(os.Stdout),
		ErrTTY:  isTerminal(os.Stderr),
		NoColor: os.Getenv("NO_COLOR") != "",
	}
}

// Test returns streams backed by buffers, none of them a terminal, and the
// buffers for stdin, stdout and stderr.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// CanPrompt reports whether questions can be asked: stdin and stdout are both
// terminals.
func (s *IOStreams) CanPrompt() bool { return s.InTTY && s.OutTTY }

// ColorOut reports whether stdout gets color.
func (s *IOStreams) ColorOut() bool { return s.OutTTY && !s.NoColor }

// ColorErr reports whether stderr gets color.
func (s *IOStreams) ColorErr() bool { return s.ErrTTY && !s.NoColor }

// OutColors returns the palette for stdout.
func (s *IOStreams) OutColors() *Palette { return NewPalette(s.ColorOut()) }

// ErrColors returns the palette for stderr.
func (s *IOStreams) ErrColors() *Palette { return NewPalette(s.ColorErr()) }
