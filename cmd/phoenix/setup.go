package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/engine/lxc"
	"github.com/phoenix-hypervisor/phoenix/engine/pct"
)

// loadConfig loads both files. An invalid configuration is exit 2, before
// anything is touched, with every problem written to w. Warnings (the
// hypervisor config left out, no hooks dir, duplicate addresses, ...) are
// returned for the caller to show where it shows the rest.
func loadConfig(g globals, w io.Writer) (*engine.Config, []string, error) {
	hyp, warning, err := g.hypervisorFile()
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	if warning != "" {
		warnings = append(warnings, "warning: "+warning)
	}
	if w := g.hooksDirWarning(); w != "" {
		warnings = append(warnings, w)
	}
	cfg, err := config.LoadWith(config.Options{Strict: g.Strict}, hyp, g.LXCConfig)
	if err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			writeProblems(w, ve.Problems)
			return nil, nil, exitError(engine.ExitUsage, fmt.Errorf("invalid configuration: %d problem(s) above; nothing was changed", countErrors(ve.Problems)))
		}
		return nil, nil, exitError(engine.ExitUsage, fmt.Errorf("load configuration: %w", err))
	}
	for _, p := range slices.Concat(cfg.Warnings, cfg.NotApplied) {
		warnings = append(warnings, config.Format(p))
	}
	return cfg, warnings, nil
}

func writeProblems(w io.Writer, ps []engine.Problem) {
	for _, p := range ps {
		fmt.Fprintln(w, config.Format(p))
	}
}

func printLines(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

func countErrors(ps []engine.Problem) int {
	n := 0
	for _, p := range ps {
		if !p.Warning {
			n++
		}
	}
	return n
}

// realBackend is the backend that acts on containers: pct (Proxmox VE) or
// lxc. A missing tool is an environment problem, exit 3.
func realBackend(g globals, env Env, logger *slog.Logger) (engine.Backend, error) {
	if g.Backend == "lxc" {
		if err := lxcPrecheck(); err != nil {
			return nil, err
		}
	}
	return newBackend(g, env, logger)
}

// newBackend is realBackend without the lxc backend's doctor checks.
func newBackend(g globals, env Env, logger *slog.Logger) (engine.Backend, error) {
	switch g.Backend {
	case "lxc":
		o := lxc.OptionsFromEnv(env.Getenv)
		if g.LXCPath != "" {
			o.LXCPath = g.LXCPath
		}
		o.HostRoot = g.HostRoot
		o.Logger = logger
		b, err := lxc.New(o)
		if err != nil {
			return nil, exitError(engine.ExitEnvironment, fmt.Errorf("lxc backend: %w", err))
		}
		return b, nil
	default:
		o := pct.OptionsFromEnv(env.Getenv)
		o.PVEDir, o.HostRoot = g.PVEDir, g.HostRoot
		b, err := pct.New(o)
		if err != nil {
			return nil, exitError(engine.ExitEnvironment, fmt.Errorf("%w: is this a Proxmox VE host? use --backend lxc, or --dry-run to preview", err))
		}
		return b, nil
	}
}

// dryRunBackend records instead of acting. Reads come from the real host
// when its tool is there (returned as reads, nil otherwise), else the plan
// assumes an empty host; the note says which.
func dryRunBackend(g globals, env Env, logger *slog.Logger) (d engine.Backend, note string, reads engine.Backend) {
	if b, err := newBackend(g, env, logger); err == nil {
		reads = b
	}
	rec := dryrun.New(reads)
	if g.Backend != "lxc" {
		return rec, rec.HostNote(), reads
	}
	note = "lxc tools not found: the plan assumes an empty host"
	if reads != nil {
		note = rec.HostNote()
	}
	if missing := lxcPlanNote(); missing != "" {
		note = strings.TrimPrefix(note+"; "+missing, "; ")
	}
	return rec, note, reads
}

// eventHandler is a slog.Handler that turns a backend's notes into run
// events ("no bridge vmbr0 on this host: no network"), so they reach the
// console and the run log like everything else. A "ctid" attribute becomes
// the event's CTID.
type eventHandler struct {
	sink  func() engine.Sink // late-bound: the sinks open after the backend
	attrs []slog.Attr
}

func (h eventHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h eventHandler) Handle(_ context.Context, r slog.Record) error {
	s := h.sink()
	if s == nil {
		return nil
	}
	e := engine.Event{Time: r.Time, Kind: engine.EventLog, Level: "INFO", Message: r.Message}
	add := func(a slog.Attr) bool {
		if a.Key == "ctid" && a.Value.Kind() == slog.KindInt64 {
			e.CTID = int(a.Value.Int64())
			return true
		}
		e.Message += " " + a.Key + "=" + a.Value.String()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	switch {
	case r.Level >= slog.LevelError:
		e.Level = "ERROR"
	case r.Level >= slog.LevelWarn:
		e.Level = "WARN"
	}
	s.Emit(e)
	return nil
}

func (h eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}

func (h eventHandler) WithGroup(string) slog.Handler { return h }
