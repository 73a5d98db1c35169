package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// destroyHelp is destroy's --help text: what it does and how it answers a
// plan's "cannot change in place".
const destroyHelp = `Destroys the named containers (only containers the config names, never
another one on the host), dependents first: clones before their sources.
A running container is shut down (--shutdown-timeout), then stopped if it
is still running, then destroyed with ` + "`pct destroy CTID --purge`" + `; the files
phoenix wrote for it under the Proxmox config root go too (its raw lxc
lines go with its config; firewall/<CTID>.fw). Its hook marker lives in
the container and goes with it.

It refuses (exit 2, nothing changed) to destroy a container that a
remaining container was cloned from or depends on: name those too, or use
--all. A template's linked clones must go before it (pct refuses otherwise).

On a terminal it asks for confirmation; without one it needs --yes.
--dry-run prints every call it would make and makes none.

A change phoenix cannot make in place (` + "`phoenix plan`" + ` marks it "!": a changed
unprivileged, storage pool, template or clone source) needs the container
built again: phoenix destroy --ctid N (with its clones and dependents),
then phoenix run --ctid N.`

// destroyCmd destroys containers in reverse dependency order, after the
// refusal checks and the confirmation.
func destroyCmd(c *cli.Context, env Env) error {
	dry, yes := c.Bool("dry-run"), c.Bool("yes")
	if err := checkTargets(c); err != nil {
		return err
	}
	if !dry && !yes && !env.StdinTTY {
		return usageError("destroy asks for confirmation on a terminal and there is none: pass --yes to destroy without asking (--dry-run previews); nothing was changed")
	}
	s, o, err := lifecycleSession(c, env)
	if err != nil {
		return err
	}
	defer s.close()
	plan, err := engine.PlanDestroy(c.Context, o)
	if err != nil {
		var ee *engine.ExitError
		if errors.As(err, &ee) {
			return err // a refusal, exit 2: refused as a usage error is, on stderr
		}
		return exitError(engine.ExitEnvironment, err) // the host could not be read
	}
	if !dry && !yes {
		if err := confirm(env, o.Config, plan); err != nil {
			return err
		}
	}
	return s.finish(c.Context, func(ctx context.Context) (*engine.Result, error) {
		return engine.Destroy(ctx, o, plan)
	})
}

// confirm asks on the terminal; only "yes" (or "y") goes on.
func confirm(env Env, cfg *engine.Config, plan *engine.DestroyPlan) error {
	var lines []string
	for _, id := range plan.Order {
		state := "not on the host"
		if e, ok := plan.OnHost[id]; ok {
			state = e.Status
		}
		lines = append(lines, fmt.Sprintf("  %d %s (%s)", id, cfg.Containers[id].Hostname, state))
	}
	fmt.Fprintf(env.Stderr, "phoenix will destroy, in this order, with their disks:\n%s\nDestroy them? Type yes to go on: ", strings.Join(lines, "\n"))
	answer := ""
	if env.Stdin != nil {
		line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
		answer = strings.ToLower(strings.TrimSpace(line))
	}
	if answer != "yes" && answer != "y" {
		return usageError("destroy not confirmed (answer %q): nothing was changed", answer)
	}
	return nil
}
