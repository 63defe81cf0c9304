// Package templates holds the files stackctl renders, embedded in the binary.
//
// App holds one folder per kind of app under app/<kind>/ ("go", "flask"):
// the whole project that `stackctl new` writes, rendered by package scaffold.
// In those trees a file whose name ends in ".tmpl" is a text/template with
// the delimiters [[ and ]] (so the {{ }} of html/template and Jinja pass
// through untouched); rendering executes it with a scaffold.Data and drops
// the suffix. Every other file is copied as it is. A top-level static/
// folder is written only when the project asks for one (Data.Static).
// Templates of Go files carry the suffix so that `go vet ./...` and embed
// never see them as Go code or as a nested module.
package templates
