package main

import (
	"context"
	"fmt"
	"strings"
)

func cmdDevServerArgs(ctx context.Context, e *env, args []string) error {
	var c commonFlags
	fs := newFlags(e, "devserver-args", "starter devserver-args [--config FILE]")
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, strings.Join(cfg.DevServerArgs(), " "))
	return nil
}
