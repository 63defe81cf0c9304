package templates

import "embed"

// App is the tree of app templates: app/<kind>/... for each kind of app
// that `stackctl new` can scaffold. The "all:" prefix keeps dotfiles such as
// .gitignore.
//
//go:embed all:app
var App embed.FS
