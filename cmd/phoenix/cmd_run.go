package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/engine/lock"
	"github.com/phoenix-hypervisor/phoenix/engine/pct"
	"github.com/phoenix-hypervisor/phoenix/engine/runlog"
	"github.com/phoenix-hypervisor/phoenix/hooks"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

// session is what run, plan and hook run share: the loaded configuration,
// the backend, the lock (real runs only: a plan changes nothing) and the
// event sinks, set up in that order so that an invalid configuration or a
// missing pct is refused before anything is touched, the run log included.
type session struct {
	g        globals
	env      Env
	cfg      *engine.Config
	backend  engine.Backend
	hostNote string
	// notes are the backend's own words on what it will do differently
	// from Proxmox (the lxc backend: "CT 101: no bridge vmbr0 on this host:
	// no network"); the plan and the summary end with them.
	notes  []string
	dryRun bool
	// verb names the run in the run log ("run", "stop", "destroy", ...); "" is "run".
	verb     string
	json     *runlog.JSON // --output json
	events   engine.Sink
	redactor *runlog.Redactor
	closers  []func() error
	// stopProgress ends the progress ticker and clears the status lines.
	stopProgress func()
}

func outputFormat(c *cli.Context) (string, error) {
	switch o := c.String("output"); o {
	case "":
		if !c.IsSet("output") { // a command without --output (graph)
			return "text", nil
		}
	case "text", "json":
		return o, nil
	}
	return "", usageError("--output %q: expected text or json", c.String("output"))
}

// checkLimits refuses a --parallel below 1 and a negative --hook-timeout
// (0 leaves hooks unbounded).
func checkLimits(c *cli.Context) error {
	if c.IsSet("parallel") && c.Int("parallel") < 1 {
		return usageError("--parallel %d: expected at least 1 (the default is %d)", c.Int("parallel"), engine.DefaultParallel)
	}
	if d := c.Duration("hook-timeout"); d < 0 {
		return usageError("--hook-timeout %v: expected a duration of 0 or more, like 10m (0: no limit)", d)
	}
	return nil
}

// sessionMode is how a session reaches the host.
type sessionMode int

const (
	// modeRun acts: the real backend, the lock, a run log it must open.
	modeRun sessionMode = iota
	// modeDryRun records: the dry-run backend over the host (or an empty
	// one without pct), no lock.
	modeDryRun
	// modeRead reads the real host (pct must be there) through the dry-run
	// recorder, so nothing can change it: no lock (status, graph --status).
	modeRead
)

// newSession sets up a run of the containers ctids (nil: all of them).
func newSession(c *cli.Context, env Env, dryRun bool, ctids []int) (*session, error) {
	mode := modeRun
	if dryRun {
		mode = modeDryRun
	}
	return openSession(c, env, mode, ctids)
}

// openSession sets up a session of the given mode on the containers ctids.
func openSession(c *cli.Context, env Env, mode sessionMode, ctids []int) (*session, error) {
	dryRun := mode != modeRun
	g, err := resolveGlobals(c, env)
	if err != nil {
		return nil, err
	}
	format, err := outputFormat(c)
	if err != nil {
		return nil, err
	}
	if err := checkLimits(c); err != nil {
		return nil, err
	}
	s := &session{g: g, env: env, dryRun: dryRun, redactor: runlog.NewRedactor()}
	var warnings []string
	if s.cfg, warnings, err = loadConfig(g, env.Stderr); err != nil {
		return nil, err
	}
	// Every secret the configuration names is redacted from the start,
	// whether or not a Lua hook reads it: a shell hook may print it.
	secrets, secretWarnings := config.ReadSecrets(s.cfg)
	for _, v := range secrets {
		s.redactor.Add(v)
	}
	warnings = append(warnings, secretWarnings...)
	for _, id := range ctids {
		if _, ok := s.cfg.Containers[id]; !ok {
			return nil, usageError("container %d: no such container in %s", id, g.LXCConfig)
		}
	}
	// A real run without its hooks would build every container without
	// its set-up and call it done; a plan only warns (loadConfig).
	if !dryRun && !g.hooksDirExists() {
		return nil, usageError("hooks dir %s is not a directory: set --hooks-dir or PHOENIX_HOOKS_DIR to the directory of the phoenix_hypervisor_setup_<CTID> hooks (an empty one if no container has a hook); nothing was changed", g.HooksDir)
	}
	logger := slog.New(eventHandler{sink: func() engine.Sink { return s.events }})
	acting := engine.Backend(nil)
	switch mode {
	case modeDryRun:
		s.backend, s.hostNote, acting = dryRunBackend(g, env, logger)
	case modeRead:
		if acting, err = realBackend(g, env, logger); errors.Is(err, pct.ErrNotFound) {
			return nil, exitError(engine.ExitEnvironment, fmt.Errorf("%s reads the host, and pct is not on PATH: run it on the Proxmox VE node, or use --backend lxc for plain LXC containers", c.Command.Name))
		} else if err != nil {
			return nil, err
		}
		s.backend = dryrun.New(acting)
	default:
		if s.backend, err = realBackend(g, env, logger); err != nil {
			return nil, err
		}
		acting = s.backend
	}
	if n, ok := acting.(interface{ PlanNotes(*engine.Config) []string }); ok {
		s.notes = n.PlanNotes(s.cfg)
	}
	if !dryRun {
		l, err := lock.Acquire(g.LockFile, lock.Self())
		if err != nil {
			return nil, exitError(engine.ExitEnvironment, err)
		}
		s.closers = append(s.closers, l.Release)
	}
	if err := s.openSinks(format); err != nil {
		s.close()
		return nil, err
	}
	for _, w := range warnings {
		s.logf("WARN", "%s", strings.TrimPrefix(w, "warning: "))
	}
	return s, nil
}

// openSinks wires events: the run log file always; the console for a real
// text run; JSON lines on stdout with --output json. Warnings and errors
// always reach stderr when stdout carries a plan or JSON. Every sink sees
// events only after the redactor.
//
// A plan goes on without a run log it cannot open (a user previewing
// without root and the default /var/log path); a real run does not.
func (s *session) openSinks(format string) error {
	var sinks []engine.Sink
	var progress runlog.ProgressOptions
	f, err := runlog.NewFile(s.g.LogFile)
	switch {
	case err == nil:
		s.closers = append(s.closers, f.Close)
		sinks = append(sinks, f)
	case s.dryRun:
		fmt.Fprintf(s.env.Stderr, "phoenix: warning: %v; the plan goes on without a run log (hooks get MAIN_LOG_FILE=%s)\n", err, os.DevNull)
		s.g.LogFile = os.DevNull
	default:
		return exitError(engine.ExitEnvironment, err)
	}
	switch {
	case format == "json":
		s.json = runlog.NewJSON(s.env.Stdout)
		js := ownKinds(s.json)
		if s.dryRun {
			js = plannedEvents(js)
		}
		sinks = append(sinks, js, warnings(s.env.Stderr))
	case s.dryRun:
		sinks = append(sinks, warnings(s.env.Stderr))
	default:
		con := runlog.NewConsole(s.env.Stdout, s.env.IsTTY)
		con.Verbose = s.g.Verbose
		con.Live = s.env.IsTTY
		if con.Live {
			progress.Status = con.SetStatus
		}
		sinks = append(sinks, con)
	}
	s.events = runlog.Redact(s.withProgress(runlog.Multi(sinks...), progress), s.redactor)
	return nil
}

// withProgress puts a runlog.Progress in front of sink, ticking every
// second until the run ends (stopProgress): a stage running over 10 s
// shows it is alive (a progress event every 30 s; on a terminal, a live
// status line per container).
func (s *session) withProgress(sink engine.Sink, o runlog.ProgressOptions) engine.Sink {
	p := runlog.NewProgress(sink, o)
	s.stopProgress = p.Start(time.Second)
	s.closers = append(s.closers, func() error { s.stopProgress(); return nil })
	return p
}

// warnings is a console on w showing only WARN and ERROR log events.
func warnings(w io.Writer) engine.Sink {
	return runlog.Filter(runlog.NewConsole(w, false), func(e engine.Event) bool {
		return e.Kind == engine.EventLog && runlog.Level(e) >= 2
	})
}

func (s *session) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			fmt.Fprintf(s.env.Stderr, "phoenix: %v\n", err)
		}
	}
	s.closers = nil
}

func (s *session) logf(level, format string, args ...any) {
	s.events.Emit(engine.Event{Time: time.Now(), Kind: engine.EventLog, Level: level, Message: fmt.Sprintf(format, args...)})
}

func (s *session) hookRunner() engine.HookRunner { return hookRunner(s.g) }

func hookRunner(g globals) engine.HookRunner {
	return hooks.NewRunner(hooks.Options{Dir: g.HooksDir})
}

func (s *session) options(c *cli.Context) engine.RunOptions {
	return engine.RunOptions{
		Config:           s.cfg,
		Backend:          s.backend,
		Hooks:            s.hookRunner(),
		DryRun:           s.dryRun,
		CTIDs:            c.IntSlice("ctid"),
		Parallel:         c.Int("parallel"),
		HookTimeout:      c.Duration("hook-timeout"),
		FailFast:         c.Bool("fail-fast"),
		Force:            c.Bool("force"),
		RefreshTemplates: c.Bool("refresh-templates"),
		Strict:           s.g.Strict,
		WithTests:        c.Bool("with-tests"),
		HooksDir:         s.g.HooksDir,
		Verbose:          s.g.Verbose,
		LogFile:          s.g.LogFile,
		Events:           s.events,
	}
}

func runCmd(c *cli.Context, env Env, dryRun bool) error {
	if c.NArg() > 0 {
		return usageError("%s takes no arguments, got %q: use --ctid N to pick containers", c.Command.Name, c.Args().First())
	}
	s, err := newSession(c, env, dryRun, c.IntSlice("ctid"))
	if err != nil {
		return err
	}
	defer s.close()
	return s.finish(c.Context, func(ctx context.Context) (*engine.Result, error) {
		return engine.Run(ctx, s.options(c))
	})
}

// finish runs the engine, then writes the plan (dry-run) and the summary,
// and turns the result into the exit code.
func (s *session) finish(ctx context.Context, do func(context.Context) (*engine.Result, error)) error {
	// The notes are said once: a text plan ends with them (so the log
	// alone records them at the start); a run's console and JSON lines
	// carry them as the first events.
	planNotes := s.dryRun && s.json == nil
	if s.hostNote != "" {
		level := "WARN"
		if planNotes {
			level = "INFO"
		}
		s.logf(level, "%s", s.hostNote)
	}
	for _, n := range s.notes {
		s.logf("INFO", "%s backend: %s", s.g.Backend, n)
	}
	mode := "run"
	if s.verb != "" {
		mode = s.verb
	}
	if s.dryRun {
		mode += " --dry-run"
		if s.verb == "" {
			mode = "dry-run"
		}
	}
	s.logf("INFO", "phoenix %s %s: backend %s, %s, %d container(s)", version, mode, s.g.Backend, s.g.LXCConfig, len(s.cfg.Containers))
	// Secrets a Lua hook reads (config.secret) join the redactor that every
	// sink and the plan go through.
	ctx = luaapi.WithRedact(ctx, s.redactor.Add)
	ctx = luaapi.WithVersion(ctx, version)
	// Each Lua hook runs in a re-executed, memory-limited worker: a hook
	// that allocates without bound kills only its worker, never the run.
	if exe, err := os.Executable(); err == nil {
		ctx = luaapi.WithWorker(ctx, exe)
	}
	r, err := do(ctx)
	if s.stopProgress != nil {
		s.stopProgress() // the status lines go before the summary
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return exitError(engine.ExitInterrupted, errors.New("interrupted"))
		}
		// The run stopped before it started (a bad plan): nothing changed.
		return exitError(engine.ExitUsage, err)
	}
	if planNotes {
		r.Notes = append(s.notes, r.Notes...)
		if s.hostNote != "" {
			r.Notes = append([]string{s.hostNote}, r.Notes...)
		}
	}
	if err := s.writeResult(r); err != nil {
		return exitError(engine.ExitFailed, err)
	}
	code := r.ExitCode()
	// Ctrl-C in a terminal signals the whole process group: a pct or lxc-*
	// child may die of it before the run sees its context cancelled, and
	// fail a container instead. A signal received means 130 all the same.
	if ctx.Err() != nil {
		code = engine.ExitInterrupted
	}
	s.logf("INFO", "phoenix %s finished: exit %d", mode, code)
	if code != engine.ExitOK {
		return exitError(code, errQuiet)
	}
	return nil
}

func (s *session) writeResult(r *engine.Result) error {
	// The actions' file diffs first: their old side may hold a secret no
	// token file names any more, which only a line-wise redaction finds.
	r = s.redactor.Result(r)
	if s.json != nil {
		return writeJSONResult(s.json, r, s.redactor)
	}
	// Rendered whole, then redacted: the plan and the summary carry hook
	// argv and error messages.
	var b strings.Builder
	summary := *r
	if s.dryRun {
		engine.WritePlan(&b, r, engine.PlanOptions{Verbose: s.g.Verbose})
		b.WriteString("\n")
		summary.Notes = nil // the plan just printed them
	}
	engine.WriteSummary(&b, &summary, s.env.IsTTY)
	_, err := io.WriteString(s.env.Stdout, s.redactor.String(b.String()))
	return err
}
