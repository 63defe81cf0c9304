package scaffold

import (
	"strconv"

	"github.com/stackctl/stackctl/internal/ui"
)

// Help texts shown when the user types "?" at a prompt.
const (
	helpTemplate = "The kind of app to generate. go: a net/http web app using only the standard library. flask: a Flask app, run by gunicorn in production."
	helpModule   = "The Go module path written to go.mod, as for `go mod init`: the name alone, or where the code will live, such as github.com/you/myapp."
	helpPort     = "The port the app listens on (app.port). The proxy forwards to it; the app listens on 127.0.0.1 only."
	helpDomain   = "The domain nginx will serve (proxy.server_names), such as example.com; *.example.com for every subdomain. Change it later in stack.toml."
	helpListen   = "Where `stackctl serve` runs the local proxy (serve.listen): a port, meaning 127.0.0.1:PORT, or an address such as 0.0.0.0:8080. It must differ from the app's port."
	helpStatic   = "Add a static/ folder with a stylesheet, served at /static/ by nginx and serve directly (proxy.static), and by the app itself."
)

// Ask asks, through p, every question whose answer was not given (given
// reports the fields set by flags), with o's values as the defaults, and
// stores the answers in o. Each answer is checked as it is typed; a bad one
// is asked again.
func Ask(p ui.Prompter, o *Options, given func(Field) bool) error {
	if !given(FieldTemplate) {
		t, err := p.Select("Template:", helpTemplate, Kinds(), o.Template)
		if err != nil {
			return err
		}
		o.Template = t
	}
	if o.Template == "go" && !given(FieldModule) {
		def := o.Module
		if def == "" {
			def = o.Name
		}
		m, err := p.Input("Go module path:", helpModule, def, CheckModule)
		if err != nil {
			return err
		}
		o.Module = m
	}
	if !given(FieldPort) {
		s, err := p.Input("App port:", helpPort, strconv.Itoa(o.Port), func(s string) error {
			_, err := ParsePort(s)
			return err
		})
		if err != nil {
			return err
		}
		o.Port, _ = ParsePort(s)
	}
	if !given(FieldDomain) {
		d, err := p.Input("Domain nginx serves:", helpDomain, o.Domain, CheckDomain)
		if err != nil {
			return err
		}
		o.Domain = d
	}
	if !given(FieldListen) {
		def := o.Listen
		if _, err := NormalizeListen(def, o.Port); err != nil {
			// The default would be rejected (the app took its port).
			def = ""
		}
		l, err := p.Input("Local proxy (stackctl serve) listens on:", helpListen, def, func(s string) error {
			_, err := NormalizeListen(s, o.Port)
			return err
		})
		if err != nil {
			return err
		}
		o.Listen, _ = NormalizeListen(l, o.Port)
	}
	if !given(FieldStatic) {
		s, err := p.Confirm("Include a static folder?", helpStatic, o.Static)
		if err != nil {
			return err
		}
		o.Static = s
	}
	return nil
}
