// Command stackctl scaffolds a web app, renders its nginx site, serves it
// behind an embedded proxy that behaves like that site, and deploys it.
package main

import (
	"os"

	"github.com/stackctl/stackctl/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
