package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/lxc"
	"github.com/phoenix-hypervisor/phoenix/hooks"
)

// validateCmd checks both files and every hook and prints every problem;
// exit 2 when any is an error, 0 with warnings only.
func validateCmd(c *cli.Context, env Env) error {
	g, err := resolveGlobals(c, env)
	if err != nil {
		return err
	}
	cfg, warnings, err := loadConfig(g, env.Stdout)
	if err != nil {
		return err
	}
	printLines(env.Stdout, warnings)
	problems := append(hooks.Validate(g.HooksDir, cfg), hooks.ValidateFiles(g.HooksDir, cfg, g.Strict)...)
	writeProblems(env.Stdout, problems)
	if n := countErrors(problems); n > 0 {
		return exitError(engine.ExitUsage, fmt.Errorf("%d hook problem(s) above", n))
	}
	warn := len(warnings) + len(problems)
	fmt.Fprintf(env.Stdout, "ok: %s: %d container(s), %d warning(s)\n", g.LXCConfig, len(cfg.Containers), warn)
	return nil
}

func hooksListCmd(c *cli.Context, env Env) error {
	g, err := resolveGlobals(c, env)
	if err != nil {
		return err
	}
	cfg, warnings, err := loadConfig(g, env.Stderr)
	if err != nil {
		return err
	}
	printLines(env.Stderr, warnings)
	entries, err := hooks.List(g.HooksDir, cfg)
	if err != nil {
		return exitError(engine.ExitEnvironment, fmt.Errorf("list hooks in %s: %w", g.HooksDir, err))
	}
	hooks.WriteList(env.Stdout, entries)
	return nil
}

// hookRunCmd runs only the hook stage of one container, with the same
// contract as in a full run (lock, events, marker, summary).
func hookRunCmd(c *cli.Context, env Env) error {
	if c.NArg() != 1 {
		return usageError("hook run takes exactly one CTID, got %d argument(s)", c.NArg())
	}
	ctid, err := strconv.Atoi(c.Args().First())
	if err != nil {
		return usageError("hook run: CTID %q is not a number", c.Args().First())
	}
	s, err := newSession(c, env, c.Bool("dry-run"), []int{ctid})
	if err != nil {
		return err
	}
	defer s.close()
	return s.finish(c.Context, func(ctx context.Context) (*engine.Result, error) {
		return engine.RunHook(ctx, s.options(c), ctid)
	})
}

// hookTestCmd runs the Lua hook tests. Hooks see the configuration when
// the LXC config exists; with --backend lxc each case gets a real
// throwaway container made from the cached test rootfs.
func hookTestCmd(c *cli.Context, env Env) error {
	g, err := resolveGlobals(c, env)
	if err != nil {
		return err
	}
	opts := hooks.TestOptions{HooksDir: g.HooksDir, Files: c.Args().Slice(), Verbose: g.Verbose, Version: version}
	if _, statErr := os.Stat(g.LXCConfig); statErr == nil {
		cfg, warnings, err := loadConfig(g, env.Stderr)
		if err != nil {
			return err
		}
		printLines(env.Stderr, warnings)
		opts.Config = cfg
	}
	if g.Backend == "lxc" {
		if err := lxcPrecheck(); err != nil {
			return err
		}
		o := lxc.OptionsFromEnv(env.Getenv)
		if g.LXCPath != "" {
			o.LXCPath = g.LXCPath
		}
		o.HostRoot = g.HostRoot
		opts.Backend = "lxc"
		opts.NewBackend = lxc.ThrowawayFactory(o, lxc.RootfsDir(env.Getenv))
	}
	passed, failed, err := hooks.RunTests(c.Context, env.Stdout, opts)
	if err != nil {
		return exitError(engine.ExitUsage, fmt.Errorf("hook test: %w", err))
	}
	if failed > 0 {
		return exitError(engine.ExitFailed, fmt.Errorf("hook test: %d failed, %d passed", failed, passed))
	}
	return nil
}
