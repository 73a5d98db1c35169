package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// version is set at build time: -ldflags "-X main.version=$(git describe)".
var version = "dev"

// Env is everything of the process the command reads or writes, so tests
// run the real command with buffers and a fake environment.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// IsTTY: Stdout is a terminal, so the console may use colour.
	IsTTY bool
	// Stdin answers questions (destroy's confirmation); StdinTTY says it is
	// a terminal, without which nothing is asked.
	Stdin    io.Reader
	StdinTTY bool
}

// errQuiet ends a command with an exit code and nothing more to say: the
// summary already said it.
var errQuiet = errors.New("")

// exitError returns err carrying the exit code code.
func exitError(code int, err error) error { return &engine.ExitError{Code: code, Err: err} }

// usageError is exit 2 with a message.
func usageError(format string, args ...any) error {
	return exitError(engine.ExitUsage, fmt.Errorf(format, args...))
}

// run runs the phoenix command line args (args[0] is the program name) and
// returns the exit code.
func run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	app, notFound := newApp(env)
	err := app.RunContext(ctx, interspersed(app, args))
	if *notFound != "" {
		fmt.Fprintf(env.Stderr, "phoenix: unknown command %q: run 'phoenix help' for the list\n", *notFound)
		return engine.ExitUsage
	}
	if err == nil {
		return engine.ExitOK
	}
	var ee *engine.ExitError
	if !errors.As(err, &ee) {
		// Only urfave/cli's own parse errors get here unwrapped.
		fmt.Fprintf(env.Stderr, "phoenix: %v: run 'phoenix help' for usage\n", err)
		return engine.ExitUsage
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(env.Stderr, "phoenix: %s\n", msg)
	}
	return ee.Code
}

func newApp(env Env) (*cli.App, *string) {
	var notFound string
	onUsage := func(c *cli.Context, err error, _ bool) error {
		help := "phoenix --help"
		if c.Command != nil && c.Command.HelpName != "" && c.Command.HelpName != "phoenix" {
			help = c.Command.HelpName + " --help"
		}
		if strings.Contains(err.Error(), "for flag -hook-timeout") {
			// urfave/cli says only "parse error" of `--hook-timeout 10`.
			return usageError("%v: a duration needs its unit: use e.g. 10m or 90s (0: no limit)", err)
		}
		return usageError("%v: see '%s'", err, help)
	}
	app := &cli.App{
		Name:        "phoenix",
		Usage:       "provision Proxmox VE LXC containers from phoenix_lxc_configs.json and run their hooks",
		Version:     version,
		HideVersion: true,
		Writer:      env.Stdout,
		ErrWriter:   env.Stderr,
		Flags:       globalFlags(),
		// Errors are reported once, by run, with the exit code they carry.
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError:    onUsage,
		CommandNotFound: func(_ *cli.Context, name string) { notFound = name },
		Commands:        commands(env),
	}
	for _, c := range app.Commands {
		setUsageHandler(c, onUsage)
	}
	return app, &notFound
}

func setUsageHandler(c *cli.Command, h cli.OnUsageErrorFunc) {
	c.OnUsageError = h
	for _, s := range c.Subcommands {
		setUsageHandler(s, h)
	}
}

// strictFlag is --strict: every configuration key unknown to the schema
// is an error, not a warning; more says what else it does for a command.
func strictFlag(more string) cli.Flag {
	return &cli.BoolFlag{Name: "strict", Usage: "every configuration key unknown to the schema is an error" + more + " [$" + strictEnv + "=1]"}
}

func commands(env Env) []*cli.Command {
	runFlags := func(withDryRun bool) []cli.Flag {
		fs := []cli.Flag{
			&cli.IntSliceFlag{Name: "ctid", Usage: "provision only container `N` (repeatable), plus what it depends on that is not built yet"},
			&cli.IntFlag{Name: "parallel", Value: 4, Usage: "run at most `N` independent containers at once"},
			&cli.DurationFlag{Name: "hook-timeout", Value: defaultHookTimeout, Usage: "bound each hook to `DURATION` (a container's hook_timeout overrides)"},
			&cli.StringFlag{Name: "output", Value: "text", Usage: "`FORMAT` of the plan and events: text or json (JSON lines)"},
			&cli.BoolFlag{Name: "fail-fast", Usage: "stop at the first failed container"},
			&cli.BoolFlag{Name: "force", Usage: "run hooks again on containers that are already converged"},
			strictFlag("; a feature with neither a built-in stage nor a feature hook fails its container"),
			&cli.BoolFlag{Name: "refresh-templates", Usage: "re-take a template snapshot older than its config or hook (existing clones are left alone)"},
			&cli.BoolFlag{Name: "with-tests", Usage: "after the deployment, run the integration tests (tests.integration_tests[]) of the containers that succeeded; exit 1 when one fails (a plan lists them)"},
		}
		if withDryRun {
			fs = append([]cli.Flag{&cli.BoolFlag{Name: "dry-run", Usage: "change nothing: print the plan (same as phoenix plan)"}}, fs...)
		}
		return withGlobals(fs)
	}
	return []*cli.Command{
		{
			Name:      "run",
			Usage:     "provision all containers (or the --ctid ones) in dependency order",
			ArgsUsage: " ",
			Flags:     runFlags(true),
			Action:    func(c *cli.Context) error { return runCmd(c, env, c.Bool("dry-run")) },
		},
		{
			Name:      "plan",
			Usage:     "print what run would do, changing nothing (run --dry-run)",
			ArgsUsage: " ",
			Flags:     runFlags(false),
			Action:    func(c *cli.Context) error { return runCmd(c, env, true) },
		},
		{
			Name:      "validate",
			Usage:     "check both configuration files and every hook; exit 2 on any error",
			ArgsUsage: " ",
			Flags:     withGlobals([]cli.Flag{strictFlag("")}),
			Action:    func(c *cli.Context) error { return validateCmd(c, env) },
		},
		{
			Name:  "hooks",
			Usage: "inspect the hooks of the configured containers",
			Subcommands: []*cli.Command{{
				Name:      "list",
				Usage:     "show which container has which hook, its kind and state",
				ArgsUsage: " ",
				Flags:     withGlobals(nil),
				Action:    func(c *cli.Context) error { return hooksListCmd(c, env) },
			}},
		},
		{
			Name:  "hook",
			Usage: "run or test hooks",
			Subcommands: []*cli.Command{
				{
					Name:      "run",
					Usage:     "run only the hook stage of container CTID",
					ArgsUsage: "CTID",
					Flags: withGlobals([]cli.Flag{
						&cli.BoolFlag{Name: "dry-run", Usage: "record the hook's actions instead of performing them"},
						&cli.DurationFlag{Name: "hook-timeout", Value: defaultHookTimeout, Usage: "bound the hook to `DURATION`"},
						&cli.StringFlag{Name: "output", Value: "text", Usage: "`FORMAT`: text or json"},
						&cli.BoolFlag{Name: "force", Usage: "run the hook even when the container already ran this version of it"},
					}),
					Action: func(c *cli.Context) error { return hookRunCmd(c, env) },
				},
				{
					Name:      "test",
					Usage:     "run the Lua hook tests (*_test.lua) against a fake container (or a real one with --backend lxc)",
					ArgsUsage: "[FILE...]",
					Flags:     withGlobals(nil),
					Action:    func(c *cli.Context) error { return hookTestCmd(c, env) },
				},
			},
		},
		{
			Name:      "test",
			Usage:     "run the config's integration tests (tests.integration_tests[]) against a built deployment; exit 1 when one fails",
			ArgsUsage: " ",
			Flags: withGlobals([]cli.Flag{
				&cli.IntSliceFlag{Name: "ctid", Usage: "test only container `N` (repeatable)"},
			}),
			Action: func(c *cli.Context) error { return testCmd(c, env) },
		},
		{
			Name:      "doctor",
			Usage:     "check the outside tools and kernel features the --backend needs; exit 3 when something is missing",
			ArgsUsage: " ",
			Flags:     withGlobals(nil),
			Action:    func(c *cli.Context) error { return doctorCmd(c, env) },
		},
		{
			Name:      "status",
			Usage:     "show each container as the host has it: exists, running, snapshots, hook, drift; read-only (exit 0 in sync, 1 with drift)",
			ArgsUsage: " ",
			Flags: withGlobals([]cli.Flag{
				&cli.IntSliceFlag{Name: "ctid", Usage: "show only container `N` (repeatable)"},
				&cli.StringFlag{Name: "output", Value: "text", Usage: "`FORMAT`: text or json (JSON lines)"},
			}),
			Action: func(c *cli.Context) error { return statusCmd(c, env) },
		},
		{
			Name:        "destroy",
			Usage:       "destroy containers, clones and dependents first (--ctid N... or --all)",
			Description: destroyHelp,
			ArgsUsage:   " ",
			Flags: lifecycleFlags("destroy", shutdownTimeoutFlag(),
				&cli.BoolFlag{Name: "yes", Usage: "destroy without asking (needed without a terminal)"}),
			Action: func(c *cli.Context) error { return destroyCmd(c, env) },
		},
		{
			Name:      "start",
			Usage:     "start containers, sources and dependencies first, in boot_order, waiting boot_delay (--ctid N... or --all)",
			ArgsUsage: " ",
			Flags:     lifecycleFlags("start"),
			Action:    func(c *cli.Context) error { return powerCmd(c, env, engine.Start) },
		},
		{
			Name:      "stop",
			Usage:     "shut containers down (then stop them after --shutdown-timeout), dependents first (--ctid N... or --all)",
			ArgsUsage: " ",
			Flags:     lifecycleFlags("stop", shutdownTimeoutFlag()),
			Action:    func(c *cli.Context) error { return powerCmd(c, env, engine.Stop) },
		},
		{
			Name:      "restart",
			Usage:     "stop containers (dependents first), then start them (sources first) (--ctid N... or --all)",
			ArgsUsage: " ",
			Flags:     lifecycleFlags("restart", shutdownTimeoutFlag()),
			Action:    func(c *cli.Context) error { return powerCmd(c, env, engine.Restart) },
		},
		{
			Name:      "graph",
			Usage:     "draw the deployment: templates, clones (with their snapshot), dependencies, hooks; --status adds each container's state",
			ArgsUsage: " ",
			Flags: withGlobals([]cli.Flag{
				&cli.StringFlag{Name: "format", Value: "mermaid", Usage: "`FORMAT`: mermaid (renders in a README or an issue) or dot (Graphviz: | dot -Tsvg)"},
				&cli.BoolFlag{Name: "status", Usage: "read the host: each container built, drifted, failed or missing"},
			}),
			Action: func(c *cli.Context) error { return graphCmd(c, env) },
		},
		{
			Name:      "version",
			Usage:     "print the version",
			ArgsUsage: " ",
			Action: func(c *cli.Context) error {
				fmt.Fprintf(env.Stdout, "phoenix %s\n", version)
				return nil
			},
		},
	}
}

// interspersed moves a command's positional arguments after its flags, so
// that `phoenix hook run 950 --force` means what it says: urfave/cli, like
// Go's flag package, stops parsing flags at the first argument. Flags stay
// at the level (global, command) where they were given.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	var tail []string
	cmds, flags := app.Commands, app.Flags
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			tail = append(tail, args[i:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			out = append(out, a)
			if !strings.Contains(a, "=") && takesValue(flags, a) && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
		default:
			if c := findCommand(cmds, a); c != nil && len(tail) == 0 {
				out = append(out, a)
				cmds, flags = c.Subcommands, c.Flags
				continue
			}
			tail = append(tail, a)
		}
	}
	return append(out, tail...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the flag arg (-x or --name) consumes the next
// argument: every known flag but the booleans.
func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
