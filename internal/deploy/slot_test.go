package deploy

import (
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
)

// The template unit of the slots: the release under slots/%i, the slot's
// port from its environment file, app.env and the secrets from root-only
// files, gunicorn on app.wsgi from the release's virtualenv for Python,
// and the same hardening as the single unit.
func TestRenderSlotUnitGolden(t *testing.T) {
	for _, tc := range []struct{ name, template string }{{"myapp", "go"}, {"shop", "flask"}} {
		c := stack.Default(tc.name, tc.template)
		c.App.Command = ".stackctl/app --port $PORT"
		if tc.template == "flask" {
			c.App.Command = stack.DefaultCommand("flask")
		}
		text, err := RenderSlotUnit(c, 5)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name+"@.service", text)
		for _, want := range []string{"WorkingDirectory=/srv/" + tc.name + "/slots/%i", "EnvironmentFile=/etc/stackctl/" + tc.name + "/slot-%i.env",
			"EnvironmentFile=-/etc/stackctl/" + tc.name + ".env", "ProtectSystem=strict", "SystemCallFilter=@system-service", "${PORT}"} {
			if !strings.Contains(string(text), want) {
				t.Errorf("%s@.service lacks %q:\n%s", tc.name, want, text)
			}
		}
	}
}
