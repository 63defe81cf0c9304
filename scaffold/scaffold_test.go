package scaffold

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stackctl/stackctl/internal/ui"
)

// withAppFS replaces the embedded templates for one test.
func withAppFS(t *testing.T, fsys fstest.MapFS) {
	t.Helper()
	old := appFS
	appFS = fsys
	t.Cleanup(func() { appFS = old })
}

// listDir returns the names in dir, to check nothing was left behind.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestKinds(t *testing.T) {
	if got := Kinds(); !slices.Equal(got, []string{"go", "flask"}) {
		t.Errorf("Kinds() of the embedded templates = %v, want [go flask]", got)
	}
	withAppFS(t, fstest.MapFS{
		"app/flask/app.py.tmpl": {Data: []byte("x")},
		"app/rails/Gemfile":     {Data: []byte("x")}, // not a stack.toml template
		"app/go/go.mod.tmpl":    {Data: []byte("x")},
		"app/README":            {Data: []byte("a file, not a kind")},
	})
	if got := Kinds(); !slices.Equal(got, []string{"go", "flask"}) {
		t.Errorf("Kinds() = %v, want [go flask]", got)
	}
}

func TestCheckTemplate(t *testing.T) {
	withAppFS(t, fstest.MapFS{"app/go/go.mod.tmpl": {Data: []byte("x")}})
	tests := []struct{ in, want string }{
		{"flask", `template "flask" is not available in this build of stackctl — use one of: go`},
		{"rails", `"rails" is not a template — use one of: go`},
		{"", `"" is not a template — use one of: go`},
	}
	for _, tt := range tests {
		err := CheckTemplate(tt.in)
		var ae *AnswerError
		if !errors.As(err, &ae) || ae.Field != FieldTemplate || err.Error() != tt.want {
			t.Errorf("CheckTemplate(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	if err := CheckTemplate("go"); err != nil {
		t.Errorf("CheckTemplate(go) = %v", err)
	}
}

func TestNormalizeListen(t *testing.T) {
	tests := []struct {
		in      string
		port    int
		want    string
		wantErr string
	}{
		{"8080", 5000, "127.0.0.1:8080", ""},
		{" 9000 ", 5000, "127.0.0.1:9000", ""},
		{"127.0.0.1:8080", 5000, "127.0.0.1:8080", ""},
		{"0.0.0.0:8080", 5000, "0.0.0.0:8080", ""},
		{":8080", 5000, ":8080", ""},
		{"[::1]:8080", 5000, "[::1]:8080", ""},
		{"localhost:8080", 5000, "localhost:8080", ""},
		{"5000", 5000, "", "port 5000 is also the app's port — pick a port other than the app's 5000, such as 8080"},
		{"127.0.0.1:8080", 8080, "", "pick a port other than the app's 8080, such as 8081"},
		{"70000", 5000, "", "70000 is not a port (1–65535)"}, {"http", 5000, "", `"http" is not a port`},
		{"", 5000, "", "the address is empty"},
		{"a b:80", 5000, "", "is not an address"},
	}
	for _, tt := range tests {
		got, err := NormalizeListen(tt.in, tt.port)
		if tt.wantErr != "" {
			var ae *AnswerError
			if !errors.As(err, &ae) || ae.Field != FieldListen || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NormalizeListen(%q, %d) = %q, %v; want error with %q", tt.in, tt.port, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeListen(%q, %d) = %q, %v; want %q", tt.in, tt.port, got, err, tt.want)
		}
	}
}

func TestDataHelpers(t *testing.T) {
	tests := []struct {
		module, binary string
	}{
		{"myapp", "myapp"},
		{"github.com/you/shop", "shop"},
		{"example.com/you/shop/v2", "shop"},
		{"v2", "v2"},
	}
	for _, tt := range tests {
		if got := (Data{Module: tt.module}).Binary(); got != tt.binary {
			t.Errorf("Binary(%q) = %q, want %q", tt.module, got, tt.binary)
		}
	}
	urls := map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/",
		"0.0.0.0:81":     "http://127.0.0.1:81/",
		":82":            "http://127.0.0.1:82/",
		"[::1]:83":       "http://[::1]:83/",
	}
	for listen, want := range urls {
		if got := (Data{Listen: listen}).ServeURL(); got != want {
			t.Errorf("ServeURL(%q) = %q, want %q", listen, got, want)
		}
	}
}

// TestCreateBadInput: every bad answer is an *AnswerError naming the field
// and the value, and nothing is created.
func TestCreateBadInput(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(o *Options)
		field Field
		msg   string
	}{
		{"empty name", func(o *Options) { o.Name = "" }, FieldName, "the name is empty"},
		{"upper-case name", func(o *Options) { o.Name = "MyApp" }, FieldName, `"MyApp" must start with a lower-case letter`},
		{"name with slash", func(o *Options) { o.Name = "a/b" }, FieldName, `"a/b" is not a folder name`},
		{"dot-dot name", func(o *Options) { o.Name = ".." }, FieldName, `".." is not a folder name`},
		{"dot name", func(o *Options) { o.Name = "." }, FieldName, `"." is not a folder name`},
		{"long name", func(o *Options) { o.Name = strings.Repeat("a", 64) }, FieldName, "longer than 63"},
		{"name ending in -", func(o *Options) { o.Name = "app-" }, FieldName, "must not end with '-'"},
		{"unknown template", func(o *Options) { o.Template = "rails" }, FieldTemplate, `"rails" is not a template`},
		{"bad module", func(o *Options) { o.Module = "Bad Module" }, FieldModule, `"Bad Module" is not a valid Go module path`},
		{"port 0", func(o *Options) { o.Port = 0 }, FieldPort, "0 is not a port (1–65535)"},
		{"port 70000", func(o *Options) { o.Port = 70000 }, FieldPort, "70000 is not a port (1–65535)"},
		{"bad domain", func(o *Options) { o.Domain = "exa mple.com" }, FieldDomain, `"exa mple.com" is not a valid domain`},
		{"upper-case domain", func(o *Options) { o.Domain = "Example.com" }, FieldDomain, `"Example.com" is not a valid domain`},
		{"wildcard inside domain", func(o *Options) { o.Domain = "a.*.com" }, FieldDomain, `"a.*.com" is not a valid domain`},
		{"bad listen", func(o *Options) { o.Listen = "nope:x" }, FieldListen, `"x" is not a port`},
		{"same ports", func(o *Options) { o.Port = 8080 }, FieldListen, "port 8080 is also the app's port"},
		{"missing dir", func(o *Options) { o.Dir = filepath.Join(o.Dir, "missing") }, FieldDir, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			o := Defaults("myapp")
			o.Dir = parent
			tt.edit(&o)
			res, err := Create(o)
			var ae *AnswerError
			if !errors.As(err, &ae) || ae.Field != tt.field || !strings.Contains(err.Error(), tt.msg) || ae.Fix == "" {
				t.Fatalf("Create = %v, %v; want *AnswerError on %s containing %q with a fix", res, err, tt.field, tt.msg)
			}
			if left := listDir(t, parent); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func TestModuleIsForGoOnly(t *testing.T) {
	withAppFS(t, fstest.MapFS{
		"app/go/go.mod.tmpl":    {Data: []byte("module [[.Module]]\n")},
		"app/flask/app.py.tmpl": {Data: []byte("# [[.Module]]\n")},
	})
	o := Defaults("myapp")
	o.Dir = t.TempDir()
	o.Template = "flask"
	o.Module = "example.com/x"
	_, err := Create(o)
	var ae *AnswerError
	if !errors.As(err, &ae) || ae.Field != FieldModule || !strings.Contains(err.Error(), "a module path is for the go template, not flask") {
		t.Fatalf("Create = %v", err)
	}
	o.Module = ""
	res, err := Create(o)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(res.Dir, "app.py")); string(b) != "# myapp\n" {
		t.Errorf("app.py = %q, want the name as Module", b)
	}
}

// TestCreateNeverOverwrites: an existing file or non-empty folder is an
// error naming it, and is left exactly as it was.
func TestCreateNeverOverwrites(t *testing.T) {
	t.Run("non-empty folder", func(t *testing.T) {
		parent := t.TempDir()
		target := filepath.Join(parent, "myapp")
		os.Mkdir(target, 0o755)
		os.WriteFile(filepath.Join(target, "main.go"), []byte("mine"), 0o644)
		o := Defaults("myapp")
		o.Dir = parent
		_, err := Create(o)
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), target) {
			t.Fatalf("Create = %v, want ErrExists naming %s", err, target)
		}
		var fe *ui.FixError
		if !errors.As(err, &fe) || fe.Fix == "" {
			t.Errorf("error %v has no fix", err)
		}
		if b, _ := os.ReadFile(filepath.Join(target, "main.go")); string(b) != "mine" {
			t.Errorf("main.go changed to %q", b)
		}
		if got := listDir(t, parent); !slices.Equal(got, []string{"myapp"}) {
			t.Errorf("parent holds %v", got)
		}
		if got := listDir(t, target); !slices.Equal(got, []string{"main.go"}) {
			t.Errorf("target holds %v", got)
		}
	})
	t.Run("a file", func(t *testing.T) {
		parent := t.TempDir()
		target := filepath.Join(parent, "myapp")
		os.WriteFile(target, []byte("mine"), 0o644)
		o := Defaults("myapp")
		o.Dir = parent
		if _, err := Create(o); !errors.Is(err, ErrExists) {
			t.Fatalf("Create = %v, want ErrExists", err)
		}
		if b, _ := os.ReadFile(target); string(b) != "mine" {
			t.Errorf("file changed to %q", b)
		}
	})
	t.Run("empty folder is replaced", func(t *testing.T) {
		parent := t.TempDir()
		target := filepath.Join(parent, "myapp")
		os.Mkdir(target, 0o755)
		o := Defaults("myapp")
		o.Dir = parent
		res, err := Create(o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Dir != target {
			t.Errorf("Dir = %s, want %s", res.Dir, target)
		}
		if got := listDir(t, parent); !slices.Equal(got, []string{"myapp"}) {
			t.Errorf("parent holds %v, want only myapp (no temporary folder)", got)
		}
		if st, err := os.Stat(filepath.Join(target, "main.go")); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("main.go: %v", err)
		}
		if st, _ := os.Stat(target); st.Mode().Perm() != 0o755 {
			t.Errorf("project folder mode %v, want 0755", st.Mode().Perm())
		}
	})
}

// TestCreateFailureLeavesNothing: a template that fails halfway through
// rendering leaves neither the target nor the temporary folder behind.
func TestCreateFailureLeavesNothing(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"parse error": {
			"app/go/a.txt":         {Data: []byte("written first")},
			"app/go/z/broken.tmpl": {Data: []byte("[[if .Static]]")},
		},
		"execution error": {
			"app/go/a.txt":          {Data: []byte("written first")},
			"app/go/z/missing.tmpl": {Data: []byte("[[.NoSuchField]]")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			withAppFS(t, fsys)
			parent := t.TempDir()
			o := Defaults("myapp")
			o.Dir = parent
			_, err := Create(o)
			if err == nil || !strings.Contains(err.Error(), "app template") {
				t.Fatalf("Create = %v, want a template error", err)
			}
			if left := listDir(t, parent); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestRenderRules: .tmpl files are executed with [[ ]] and lose the suffix,
// {{ }} passes through, other files are copied byte for byte, static/ only
// with Static.
func TestRenderRules(t *testing.T) {
	withAppFS(t, fstest.MapFS{
		"app/go/page.html.tmpl":  {Data: []byte("{{.Client}} [[.Name]] [[.Port]] [[if .Static]]S[[else]]N[[end]]")},
		"app/go/raw.txt":         {Data: []byte("[[.Name]] stays")},
		"app/go/.hidden":         {Data: []byte("dot")},
		"app/go/static/app.css":  {Data: []byte("css")},
		"app/go/sub/static/keep": {Data: []byte("only the top-level static/ is optional")},
	})
	for _, static := range []bool{true, false} {
		dst := t.TempDir()
		d := Data{Name: "n", Template: "go", Module: "n", Port: 7, Static: static}
		files, err := Render(d, dst)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{".hidden", "page.html", "raw.txt", "sub/static/keep"}
		page := "{{.Client}} n 7 N"
		if static {
			want = []string{".hidden", "page.html", "raw.txt", "static/app.css", "sub/static/keep"}
			page = "{{.Client}} n 7 S"
		}
		if !slices.Equal(files, want) {
			t.Errorf("static=%v: files %v, want %v", static, files, want)
		}
		got := readTree(t, dst)
		if !slices.Equal(keys(got), want) {
			t.Errorf("static=%v: tree %v, want %v", static, keys(got), want)
		}
		if got["page.html"] != page || got["raw.txt"] != "[[.Name]] stays" {
			t.Errorf("static=%v: page.html %q, raw.txt %q", static, got["page.html"], got["raw.txt"])
		}
	}
	if _, err := Render(Data{Template: "flask"}, t.TempDir()); err == nil || !strings.Contains(err.Error(), `no app template "flask"`) {
		t.Errorf("Render(flask) = %v", err)
	}
}
