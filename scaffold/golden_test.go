package scaffold

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stackctl/stackctl/internal/stack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenCases are the projects whose whole generated tree is kept in
// testdata/golden/<name>/.
var goldenCases = []struct {
	name string
	opts Options
}{
	{"go-default", Defaults("myapp")},
	{"go-no-static", Options{
		Name: "shop", Template: "go", Module: "example.com/you/shop/v2", Port: 5001,
		Domain: "*.example.org", Listen: "9000", Static: false,
	}},
	{"flask-default", flaskDefaults("myapp")},
	{"flask-no-static", Options{
		Name: "hello-flask", Template: "flask", Port: 5001,
		Domain: "hello.example.org", Listen: "0.0.0.0:9000", Static: false,
	}},
}

// flaskDefaults returns the Options of `stackctl new NAME --template flask --yes`.
func flaskDefaults(name string) Options {
	o := Defaults(name)
	o.Template = "flask"
	return o
}

// readTree returns every file under dir, by slash path relative to dir.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Dir = t.TempDir()
			res, err := Create(o)
			if err != nil {
				t.Fatal(err)
			}
			got := readTree(t, res.Dir)
			if !slices.Equal(keys(got), res.Files) {
				t.Errorf("Result.Files = %v, tree holds %v", res.Files, keys(got))
			}
			golden := filepath.Join("testdata", "golden", tc.name)
			if *update {
				if err := os.RemoveAll(golden); err != nil {
					t.Fatal(err)
				}
				for name, body := range got {
					p := filepath.Join(golden, filepath.FromSlash(name))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			want := readTree(t, golden)
			if !slices.Equal(keys(got), keys(want)) {
				t.Fatalf("generated files %v, golden %v (run go test ./scaffold -update)", keys(got), keys(want))
			}
			for name := range want {
				if got[name] != want[name] {
					t.Errorf("%s differs from %s (run go test ./scaffold -update and review the diff):\n--- got\n%s", name, filepath.Join(golden, name), got[name])
				}
			}
		})
	}
}

// TestStackTomlOfProject checks the written stack.toml loads back to the
// Config Create reported, with the answers in their keys.
func TestStackTomlOfProject(t *testing.T) {
	o := goldenCases[1].opts
	o.Dir = t.TempDir()
	res, err := Create(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := stack.Load(filepath.Join(res.Dir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if c.App.Port != 5001 || c.Serve.Listen != "127.0.0.1:9000" || !slices.Equal(c.Proxy.ServerNames, []string{"*.example.org"}) ||
		len(c.Proxy.Static) != 0 || c.App.Template != "go" || c.Name != "shop" {
		t.Errorf("loaded %+v", c)
	}
	c.Path = ""
	b1, _ := c.Encode()
	b2, _ := res.Config.Encode()
	if string(b1) != string(b2) {
		t.Errorf("loaded config differs from Result.Config:\n%s\n---\n%s", b1, b2)
	}

	o = Defaults("withstatic")
	o.Dir = t.TempDir()
	res, err = Create(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err = stack.Load(filepath.Join(res.Dir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	want := []stack.Static{{URL: "/static/", Dir: "static", Expires: "30d"}}
	if !slices.Equal(c.Proxy.Static, want) {
		t.Errorf("proxy.static = %+v, want %+v", c.Proxy.Static, want)
	}
	if st, err := os.Stat(filepath.Join(res.Dir, "static", "style.css")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("static/style.css: %v", err)
	}
}
