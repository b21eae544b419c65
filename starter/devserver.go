package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func devServerCmd(e *env, c *commonFlags) *cobra.Command {
	cmd := command(devServerUsage, "print the temporal arguments that start the configured dev server", func(*cobra.Command, []string) error {
		return devServerArgs(e, c)
	})
	cmd.Args = args(0, 0, "")
	return cmd
}

func devServerArgs(e *env, c *commonFlags) error {
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return printJSON(e.stdout, cfg.DevServerArgs())
	}
	fmt.Fprintln(e.stdout, strings.Join(cfg.DevServerArgs(), " "))
	return nil
}

const devServerUsage = `
starter devserver-args [--config FILE] [--output json]

Prints the arguments after "temporal" that start the dev server described by
temporal-dev.yml (ports, database file, search attributes, dynamic config).

Example:
  .venv/bin/temporal $(starter devserver-args)
`
