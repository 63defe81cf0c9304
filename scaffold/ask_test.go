package scaffold

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// stubPrompter answers from a script and records each question. For
// Input it runs the validator on every scripted answer, the way survey
// re-asks, and records the rejections.
type stubPrompter struct {
	answers  []string
	asked    []string
	rejected []string
}

func (s *stubPrompter) next(msg string) (string, error) {
	s.asked = append(s.asked, msg)
	if len(s.answers) == 0 {
		return "", fmt.Errorf("unexpected question %q", msg)
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

func (s *stubPrompter) Select(msg, help string, options []string, def string) (string, error) {
	if help == "" || !slices.Contains(options, def) {
		return "", fmt.Errorf("select %q: help %q, default %q not in %v", msg, help, def, options)
	}
	a, err := s.next(msg)
	if a == "" {
		a = def
	}
	return a, err
}

func (s *stubPrompter) Input(msg, help, def string, validate func(string) error) (string, error) {
	if help == "" {
		return "", fmt.Errorf("input %q has no help", msg)
	}
	for {
		a, err := s.next(msg)
		if err != nil {
			return "", err
		}
		if a == "" {
			a = def
		}
		if err := validate(a); err != nil {
			s.rejected = append(s.rejected, err.Error())
			continue
		}
		return a, nil
	}
}

func (s *stubPrompter) Confirm(msg, help string, def bool) (bool, error) {
	a, err := s.next(msg)
	switch a {
	case "":
		return def, err
	case "y":
		return true, err
	}
	return false, err
}

func (s *stubPrompter) Password(msg, help string) (string, error) { return s.next(msg) }

func TestAskEverything(t *testing.T) {
	p := &stubPrompter{answers: []string{"", "example.com/me/app", "99999", "5001", "bad domain", "app.example.org", "5001", "9001", "n"}}
	o := Defaults("app")
	if err := Ask(p, &o, func(Field) bool { return false }); err != nil {
		t.Fatal(err)
	}
	want := Options{Name: "app", Dir: ".", Template: "go", Module: "example.com/me/app", Port: 5001,
		Domain: "app.example.org", Listen: "127.0.0.1:9001", Static: false}
	if o != want {
		t.Errorf("answers %+v, want %+v", o, want)
	}
	if len(p.rejected) != 3 || !strings.Contains(p.rejected[0], "99999 is not a port (1–65535)") ||
		!strings.Contains(p.rejected[1], `"bad domain" is not a valid domain`) ||
		!strings.Contains(p.rejected[2], "port 5001 is also the app's port") {
		t.Errorf("rejected %q", p.rejected)
	}
	if len(p.answers) != 0 {
		t.Errorf("unasked answers left: %q", p.answers)
	}
}

func TestAskDefaults(t *testing.T) {
	p := &stubPrompter{answers: []string{"", "", "", "", "", ""}}
	o := Defaults("app")
	if err := Ask(p, &o, func(Field) bool { return false }); err != nil {
		t.Fatal(err)
	}
	want := Defaults("app")
	want.Module = "app"
	if o != want {
		t.Errorf("answers %+v, want %+v", o, want)
	}
}

func TestAskSkipsGiven(t *testing.T) {
	p := &stubPrompter{answers: []string{"app.example.org"}}
	o := Defaults("app")
	o.Port = 6000
	given := func(f Field) bool { return f != FieldDomain }
	if err := Ask(p, &o, given); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.asked, []string{"Domain nginx serves:"}) || o.Domain != "app.example.org" || o.Port != 6000 {
		t.Errorf("asked %q, answers %+v", p.asked, o)
	}
}

// TestAskListenDefaultCollides: when the app took port 8080, the listen
// question offers no default that would be rejected.
func TestAskListenDefaultCollides(t *testing.T) {
	p := &stubPrompter{answers: []string{"", "8081"}}
	o := Defaults("app")
	o.Port = 8080
	given := func(f Field) bool { return f != FieldListen }
	if err := Ask(p, &o, given); err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:8081" || len(p.rejected) != 1 || !strings.Contains(p.rejected[0], "the address is empty") {
		t.Errorf("listen %q, rejected %q", o.Listen, p.rejected)
	}
}

func TestAskFlaskHasNoModule(t *testing.T) {
	withAppFS(t, fstest.MapFS{
		"app/go/go.mod.tmpl":    {Data: []byte("x")},
		"app/flask/app.py.tmpl": {Data: []byte("x")},
	})
	p := &stubPrompter{answers: []string{"flask", "", "", "", ""}}
	o := Defaults("app")
	if err := Ask(p, &o, func(Field) bool { return false }); err != nil {
		t.Fatal(err)
	}
	for _, q := range p.asked {
		if strings.Contains(q, "module") {
			t.Errorf("flask asked %q", q)
		}
	}
	if o.Template != "flask" || len(p.asked) != 5 {
		t.Errorf("template %q, asked %q", o.Template, p.asked)
	}
}

func TestAskStopsOnError(t *testing.T) {
	p := &stubPrompter{}
	o := Defaults("app")
	err := Ask(p, &o, func(Field) bool { return false })
	if err == nil || !strings.Contains(err.Error(), "unexpected question") {
		t.Errorf("Ask = %v", err)
	}
	var ae *AnswerError
	if errors.As(err, &ae) {
		t.Errorf("prompter failure reported as a bad answer: %v", err)
	}
}
