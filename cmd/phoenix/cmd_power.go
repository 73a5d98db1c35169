package main

import (
	"context"
	"sort"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// defaultShutdownTimeout is `pct shutdown --timeout` of stop, restart and
// destroy, after which a container still running is stopped.
const defaultShutdownTimeout = 60

// lifecycleFlags are the flags of start, stop, restart and destroy.
func lifecycleFlags(verb string, extra ...cli.Flag) []cli.Flag {
	fs := []cli.Flag{
		&cli.IntSliceFlag{Name: "ctid", Usage: verb + " container `N` (repeatable)"},
		&cli.BoolFlag{Name: "all", Usage: verb + " every container of the config"},
		&cli.BoolFlag{Name: "dry-run", Usage: "change nothing: print every pct call it would make"},
		&cli.StringFlag{Name: "output", Value: "text", Usage: "`FORMAT` of the events and the summary: text or json (JSON lines)"},
	}
	return withGlobals(append(fs, extra...))
}

func shutdownTimeoutFlag() cli.Flag {
	return &cli.IntFlag{Name: "shutdown-timeout", Value: defaultShutdownTimeout, Usage: "`SECONDS` a container gets to shut down (pct shutdown --timeout) before it is stopped"}
}

// checkTargets refuses, before anything is touched, a call that names no
// containers, both --ctid and --all, or a timeout below one second.
func checkTargets(c *cli.Context) error {
	all, n := c.Bool("all"), len(c.IntSlice("ctid"))
	switch {
	case c.NArg() > 0:
		return usageError("%s takes no arguments, got %q: use --ctid N or --all", c.Command.Name, c.Args().First())
	case all && n > 0:
		return usageError("%s: --all and --ctid exclude each other", c.Command.Name)
	case !all && n == 0:
		return usageError("%s: name the containers with --ctid N (repeatable) or use --all", c.Command.Name)
	case c.IsSet("shutdown-timeout") && c.Int("shutdown-timeout") < 1:
		return usageError("--shutdown-timeout %d: expected at least 1 second", c.Int("shutdown-timeout"))
	}
	return nil
}

// targets are the containers --ctid names, or with --all every one.
func targets(c *cli.Context, cfg *engine.Config) []int {
	if !c.Bool("all") {
		return c.IntSlice("ctid")
	}
	ids := make([]int, 0, len(cfg.Containers))
	for id := range cfg.Containers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// lifecycleSession opens the session of a lifecycle verb: the lock for a
// real one, the dry-run recorder with --dry-run.
func lifecycleSession(c *cli.Context, env Env) (*session, engine.LifecycleOptions, error) {
	if err := checkTargets(c); err != nil {
		return nil, engine.LifecycleOptions{}, err
	}
	s, err := newSession(c, env, c.Bool("dry-run"), c.IntSlice("ctid"))
	if err != nil {
		return nil, engine.LifecycleOptions{}, err
	}
	s.verb = c.Command.Name
	o := engine.LifecycleOptions{
		Config:          s.cfg,
		Backend:         s.backend,
		DryRun:          s.dryRun,
		CTIDs:           targets(c, s.cfg),
		Events:          s.events,
		ShutdownTimeout: time.Duration(c.Int("shutdown-timeout")) * time.Second,
	}
	return s, o, nil
}

// powerCmd runs start, stop or restart.
func powerCmd(c *cli.Context, env Env, do func(context.Context, engine.LifecycleOptions) (*engine.Result, error)) error {
	s, o, err := lifecycleSession(c, env)
	if err != nil {
		return err
	}
	defer s.close()
	return s.finish(c.Context, func(ctx context.Context) (*engine.Result, error) { return do(ctx, o) })
}
