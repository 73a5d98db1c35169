package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// graphCmd draws the deployment (templates, clones with their snapshot,
// dependencies, hook kinds) as Mermaid or Graphviz DOT; with --status each
// container's state from the host. Without --status it reads no host.
func graphCmd(c *cli.Context, env Env) error {
	if c.NArg() > 0 {
		return usageError("graph takes no arguments, got %q", c.Args().First())
	}
	format := c.String("format")
	if format != "mermaid" && format != "dot" {
		return usageError("--format %q: expected mermaid or dot", format)
	}
	var (
		cfg    *engine.Config
		status *engine.StatusReport
		hooks  engine.HookRunner
	)
	if c.Bool("status") {
		s, err := openSession(c, env, modeRead, nil)
		if err != nil {
			return err
		}
		defer s.close()
		if status, err = s.inspect(c, nil); err != nil {
			return err
		}
		cfg, hooks = s.cfg, s.hookRunner()
	} else {
		g, err := resolveGlobals(c, env)
		if err != nil {
			return err
		}
		var warnings []string
		if cfg, warnings, err = loadConfig(g, env.Stderr); err != nil {
			return err
		}
		printLines(env.Stderr, warnings)
		hooks = hookRunner(g)
	}
	var b strings.Builder
	graph := engine.BuildGraph(cfg, hooks, status)
	if format == "dot" {
		engine.WriteDOT(&b, graph)
	} else {
		engine.WriteMermaid(&b, graph)
	}
	_, err := env.Stdout.Write([]byte(b.String()))
	return err
}
