package cmd

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/ui"
)

// addConfigFlag adds --config to a command that reads stack.toml.
func addConfigFlag(c *cobra.Command, path *string) {
	c.Flags().StringVar(path, "config", "", "the stack.toml to use (default: the nearest one in this folder or a parent)")
}

// loadConfig loads the stack.toml named by --config, or the nearest one.
func loadConfig(path string) (*stack.Config, error) {
	if path == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		p, err := stack.Find(wd)
		if errors.Is(err, stack.ErrNotFound) {
			return nil, ui.WithFix(err, "run it inside a project made by 'stackctl new', or pass --config FILE")
		}
		if err != nil {
			return nil, err
		}
		path = p
	}
	c, err := stack.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ui.WithFix(err, "check the --config path")
	}
	if err != nil {
		return nil, ui.WithFix(err, "fix "+path+" and run again")
	}
	return c, nil
}

// revalidate checks a Config after flags changed it; errors are usage errors
// because a flag holds the bad value.
func revalidate(c *stack.Config) error {
	if err := c.Validate(); err != nil {
		return &ui.UsageError{Err: ui.WithFix(err, "fix the flag's value")}
	}
	return nil
}
