// Package scaffold makes a new stackctl project: it checks a name and the
// answers to `stackctl new`'s questions, renders templates/app/<kind> with
// them, writes stack.toml, and puts the result in place atomically (a
// temporary folder beside the target, renamed into place), so a failure at
// any point leaves nothing behind and nothing existing is ever overwritten.
package scaffold

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// Field names one answer of `stackctl new`; each has a flag of the same name.
type Field string

// The answers, in the order they are asked.
const (
	FieldName     Field = "name"
	FieldTemplate Field = "template"
	FieldModule   Field = "module"
	FieldPort     Field = "port"
	FieldDomain   Field = "domain"
	FieldListen   Field = "listen"
	FieldStatic   Field = "static"
	FieldDir      Field = "dir"
)

// Options are the answers that make a project.
type Options struct {
	// Name is the project and folder name ([a-z][a-z0-9-]*, at most 63).
	Name string
	// Dir is the parent folder the project is created in.
	Dir string
	// Template is the kind of app: one of Kinds().
	Template string
	// Module is the Go module path (go only); empty means Name.
	Module string
	// Port is the app's port (app.port).
	Port int
	// Domain is the domain nginx serves (proxy.server_names).
	Domain string
	// Listen is where `stackctl serve` listens (serve.listen): an address,
	// or a port, which means that port on 127.0.0.1.
	Listen string
	// Static adds a static/ folder served at /static/ (proxy.static).
	Static bool
}

// Defaults returns the Options of `stackctl new NAME --yes`.
func Defaults(name string) Options {
	return Options{
		Name:     name,
		Dir:      ".",
		Template: DefaultTemplate(),
		Port:     stack.DefaultPort,
		Domain:   stack.DefaultDomain,
		Listen:   stack.DefaultServeListen,
		Static:   true,
	}
}

// DefaultTemplate is the kind of app made when none is chosen: "go".
func DefaultTemplate() string { return stack.Templates[0] }

// AnswerError is a bad answer: which field, what is wrong with the value,
// and how to fix it.
type AnswerError struct {
	Field Field
	Err   error
	Fix   string
}

func (e *AnswerError) Error() string { return e.Err.Error() + " — " + e.Fix }

// Unwrap returns the error without its fix.
func (e *AnswerError) Unwrap() error { return e.Err }

func answerErr(f Field, fix string, err error) error {
	if err == nil {
		return nil
	}
	return &AnswerError{Field: f, Err: err, Fix: fix}
}

// CheckName checks a project name.
func CheckName(name string) error {
	return answerErr(FieldName, "use a lower-case name such as myapp or my-app", stack.ValidateName(name))
}

// CheckTemplate checks a template name against the kinds this build has.
func CheckTemplate(t string) error {
	kinds := Kinds()
	if slices.Contains(kinds, t) {
		return nil
	}
	fix := "use one of: " + strings.Join(kinds, ", ")
	if slices.Contains(stack.Templates, t) {
		return answerErr(FieldTemplate, fix, fmt.Errorf("template %q is not available in this build of stackctl", t))
	}
	return answerErr(FieldTemplate, fix, fmt.Errorf("%q is not a template", t))
}

// CheckModule checks a Go module path the way `go mod init` does.
func CheckModule(m string) error {
	return answerErr(FieldModule, "use a path such as myapp or github.com/you/myapp", stack.ValidateModulePath(m))
}

// ParsePort parses the app's port.
func ParsePort(s string) (int, error) {
	p, err := stack.ParsePort(strings.TrimSpace(s))
	return p, answerErr(FieldPort, "use a number from 1 to 65535, such as 5000", err)
}

// CheckPort checks the app's port.
func CheckPort(p int) error {
	return answerErr(FieldPort, "use a number from 1 to 65535, such as 5000", stack.ValidatePort(p))
}

// CheckDomain checks the domain nginx serves.
func CheckDomain(d string) error {
	return answerErr(FieldDomain, "use a host name such as example.com or *.example.com", stack.ValidateHostname(d))
}

// NormalizeListen checks serve's listen address against the app's port and
// returns it as stack.toml will hold it: a bare port becomes 127.0.0.1:PORT,
// so the local proxy is not reachable from other machines unless asked.
func NormalizeListen(s string, appPort int) (string, error) {
	const fix = "use a port or an address such as 8080, 127.0.0.1:8080 or [::1]:8080"
	s = strings.TrimSpace(s)
	l, err := stack.ParseListen(s)
	if err != nil {
		return "", answerErr(FieldListen, fix, err)
	}
	if l.Port == appPort {
		other := 8080
		if appPort == other {
			other = 8081
		}
		return "", answerErr(FieldListen, "pick a port other than the app's "+strconv.Itoa(appPort)+", such as "+strconv.Itoa(other),
			fmt.Errorf("port %d is also the app's port", l.Port))
	}
	if !strings.Contains(s, ":") {
		l.Host = "127.0.0.1"
	}
	return l.String(), nil
}

// Check validates every answer and fills what is derived: Module defaults
// to Name for Go, and Listen is normalized. It returns the first bad answer
// as an *AnswerError.
func (o *Options) Check() error {
	if err := CheckName(o.Name); err != nil {
		return err
	}
	if err := CheckTemplate(o.Template); err != nil {
		return err
	}
	if o.Template != "go" && o.Module != "" && o.Module != o.Name {
		return answerErr(FieldModule, "leave the module path out, or use the go template",
			fmt.Errorf("a module path is for the go template, not %s", o.Template))
	}
	if o.Module == "" {
		o.Module = o.Name
	}
	if err := CheckModule(o.Module); err != nil {
		return err
	}
	if err := CheckPort(o.Port); err != nil {
		return err
	}
	if err := CheckDomain(o.Domain); err != nil {
		return err
	}
	l, err := NormalizeListen(o.Listen, o.Port)
	if err != nil {
		return err
	}
	o.Listen = l
	return nil
}

// Config returns the stack.toml of the project: stack.Default with the
// answers applied. o must have passed Check.
func (o *Options) Config() (*stack.Config, error) {
	c := stack.Default(o.Name, o.Template)
	c.App.Port = o.Port
	c.Proxy.ServerNames = []string{o.Domain}
	c.Serve.Listen = o.Listen
	if o.Static {
		c.Proxy.Static = []stack.Static{{URL: "/static/", Dir: "static", Expires: "30d"}}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Data returns the template data of the answers.
func (o *Options) Data() Data {
	return Data{
		Name:     o.Name,
		Template: o.Template,
		Module:   o.Module,
		Port:     o.Port,
		Domain:   o.Domain,
		Listen:   o.Listen,
		Static:   o.Static,
	}
}

// Result is what Create made.
type Result struct {
	// Dir is the project folder.
	Dir string
	// Files are the files written, relative to Dir with forward slashes, in
	// lexical order; stack.toml included.
	Files []string
	// Config is the project's stack.toml.
	Config *stack.Config
}

// ErrExists is wrapped by the error Create returns when the target folder
// exists and is not empty (or is not a folder).
var ErrExists = errors.New("already exists")

// Create checks o and makes the project in o.Dir/o.Name. It renders into a
// temporary folder beside the target and renames it into place; an empty
// existing folder is replaced, anything else existing is an error naming
// it. On any error nothing is left behind.
func Create(o Options) (*Result, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	cfg, err := o.Config()
	if err != nil {
		return nil, err
	}
	toml, err := cfg.Encode()
	if err != nil {
		return nil, err
	}
	if o.Dir == "" {
		o.Dir = "."
	}
	if st, err := os.Stat(o.Dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, answerErr(FieldDir, "create it first or pass another --dir", fmt.Errorf("folder %s does not exist", o.Dir))
		}
		return nil, err
	} else if !st.IsDir() {
		return nil, answerErr(FieldDir, "pass a folder as --dir", fmt.Errorf("%s is not a folder", o.Dir))
	}
	target := filepath.Join(o.Dir, o.Name)
	replaceEmpty, err := checkTarget(target)
	if err != nil {
		return nil, err
	}

	tmp, err := os.MkdirTemp(o.Dir, "."+o.Name+".new-*")
	if err != nil {
		return nil, fmt.Errorf("create a temporary folder in %s: %w", o.Dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	files, err := Render(o.Data(), tmp)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, stack.FileName), toml, 0o644); err != nil {
		return nil, err
	}
	files = append(files, stack.FileName)
	slices.Sort(files)

	if replaceEmpty {
		// rename(2) would replace an empty folder, but os.Rename refuses
		// to; os.Remove fails if something appeared in it meanwhile.
		if err := os.Remove(target); err != nil {
			return nil, targetExists(target)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		if replaceEmpty {
			os.Mkdir(target, 0o755)
		}
		if _, serr := os.Lstat(target); serr == nil {
			return nil, targetExists(target)
		}
		return nil, fmt.Errorf("move the project into %s: %w", target, err)
	}
	ok = true
	return &Result{Dir: target, Files: files, Config: cfg}, nil
}

// checkTarget reports whether target is an empty folder to replace, or an
// error if it exists otherwise.
func checkTarget(target string) (replaceEmpty bool, err error) {
	st, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return false, targetExists(target)
	}
	entries, err := os.ReadDir(target)
	if err != nil {
		return false, err
	}
	if len(entries) > 0 {
		return false, targetExists(target)
	}
	return true, nil
}

func targetExists(target string) error {
	return ui.WithFix(fmt.Errorf("%s %w and is not an empty folder", target, ErrExists),
		"pick another name or --dir, or remove it first")
}
