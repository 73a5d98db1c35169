//go:build !integrate

package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Until the engine, config, backend and hooks packages land, the commands
// that need them say so. Built with -tags integrate, the real ones are used.

var errPending = exitError(engine.ExitEnvironment, errors.New("not wired yet: this build lacks the engine"))

func runCmd(c *cli.Context, env Env, dryRun bool) error {
	if _, err := resolveGlobals(c, env); err != nil {
		return err
	}
	return errPending
}
func validateCmd(c *cli.Context, env Env) error  { return errPending }
func hooksListCmd(c *cli.Context, env Env) error { return errPending }
func hookRunCmd(c *cli.Context, env Env) error   { return errPending }
func hookTestCmd(c *cli.Context, env Env) error  { return errPending }
