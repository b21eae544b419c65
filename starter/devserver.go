package main

import (
	"context"
	"fmt"
	"strings"
)

func cmdDevServerArgs(ctx context.Context, e *env, args []string) error {
	var c commonFlags
	fs := newFlags(e, "devserver-args", devServerUsage)
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
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
