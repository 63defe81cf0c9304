package ui

import (
	"errors"
	"fmt"
	"io"

	"github.com/AlecAivazis/survey/v2"
	"github.com/AlecAivazis/survey/v2/terminal"
)

// Prompter asks the user questions. The real one is survey on a terminal;
// tests use a stub.
type Prompter interface {
	// Select asks to pick one of options; def is preselected.
	Select(message, help string, options []string, def string) (string, error)
	// Input asks for a line of text; validate re-asks until it returns nil.
	Input(message, help, def string, validate func(string) error) (string, error)
	// Confirm asks a yes/no question.
	Confirm(message, help string, def bool) (bool, error)
	// Password asks for a secret; what is typed is not shown.
	Password(message, help string) (string, error)
}

// ErrInterrupted is returned when the user presses Ctrl-C at a prompt.
var ErrInterrupted = errors.New("interrupted")

// SurveyPrompter is the Prompter for a real terminal.
type SurveyPrompter struct {
	in      terminal.FileReader
	out     terminal.FileWriter
	errOut  io.Writer
	noColor bool
}

// NewSurveyPrompter returns a prompter on the streams, which must be
// terminals (files) for survey to drive them.
func NewSurveyPrompter(s *IOStreams) (*SurveyPrompter, error) {
	in, ok1 := s.In.(terminal.FileReader)
	out, ok2 := s.Out.(terminal.FileWriter)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("prompts need a terminal")
	}
	return &SurveyPrompter{in: in, out: out, errOut: s.ErrOut, noColor: !s.ColorOut()}, nil
}

func (p *SurveyPrompter) opts() []survey.AskOpt {
	o := []survey.AskOpt{survey.WithStdio(p.in, p.out, p.errOut)}
	if p.noColor {
		o = append(o, survey.WithIcons(func(icons *survey.IconSet) {
			for _, ic := range []*survey.Icon{&icons.Question, &icons.Help, &icons.Error, &icons.SelectFocus, &icons.HelpInput} {
				ic.Format = ""
			}
		}))
	}
	return o
}

func interrupted(err error) error {
	if errors.Is(err, terminal.InterruptErr) {
		return ErrInterrupted
	}
	return err
}

// Select implements Prompter.
func (p *SurveyPrompter) Select(message, help string, options []string, def string) (string, error) {
	var ans string
	q := &survey.Select{Message: message, Help: help, Options: options, Default: def}
	err := survey.AskOne(q, &ans, p.opts()...)
	return ans, interrupted(err)
}

// Input implements Prompter.
func (p *SurveyPrompter) Input(message, help, def string, validate func(string) error) (string, error) {
	var ans string
	q := &survey.Input{Message: message, Help: help, Default: def}
	opts := p.opts()
	if validate != nil {
		opts = append(opts, survey.WithValidator(func(v any) error {
			s, _ := v.(string)
			return validate(s)
		}))
	}
	err := survey.AskOne(q, &ans, opts...)
	return ans, interrupted(err)
}

// Confirm implements Prompter.
func (p *SurveyPrompter) Confirm(message, help string, def bool) (bool, error) {
	var ans bool
	q := &survey.Confirm{Message: message, Help: help, Default: def}
	err := survey.AskOne(q, &ans, p.opts()...)
	return ans, interrupted(err)
}

// Password implements Prompter: survey shows a * per typed character.
func (p *SurveyPrompter) Password(message, help string) (string, error) {
	var ans string
	q := &survey.Password{Message: message, Help: help}
	err := survey.AskOne(q, &ans, p.opts()...)
	return ans, interrupted(err)
}

var _ Prompter = (*SurveyPrompter)(nil)
