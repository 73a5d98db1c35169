package engine

import (
	"context"
	"errors"
	"time"
)

// HookRunner runs the per-container hook stage. The hooks package
// implements it (Lua and legacy shell hooks); engine only calls it.
type HookRunner interface {
	// Describe finds ct's hook without running it. Kind "" means no hook.
	Describe(ct *Container) HookInfo
	// Run runs the hook. A returned error fails the container; its text
	// goes to the console and the summary (for Lua: file:line: message;
	// for shell: the exit code and the last lines of stderr).
	Run(ctx context.Context, req HookRequest) error
}

// HookChecker is a HookRunner that can check a hook without running it.
// Run and RunHook check the hook of every container they will run before
// the first change: a returned error stops the run (nothing was changed);
// warnings are logged.
type HookChecker interface {
	CheckHook(ct *Container) (warnings []string, err error)
}

// checkHooks checks, before the first change, what would fail the
// containers ids: the files of the hooks dir they will run (through a
// HookChecker), and, with strict, a feature nothing applies. Warnings go
// to sink; the error lists everything that must be fixed first.
func checkHooks(hr HookRunner, cfg *Config, ids []int, sink Sink, strict bool) error {
	hc, _ := hr.(HookChecker)
	var errs []error
	seen := map[string]bool{}
	for _, id := range ids {
		ct := cfg.Containers[id]
		if strict {
			for _, f := range MissingFeatureHooks(hr, ct) {
				errs = append(errs, errors.New(NoFeatureHook(f, true)))
			}
		}
		if hc == nil {
			continue
		}
		warnings, err := hc.CheckHook(ct)
		for _, w := range warnings {
			sink.Emit(Event{Time: time.Now(), Kind: EventLog, CTID: id, Stage: StageHook, Level: "WARN", Message: w})
		}
		for _, e := range flatten(err) {
			// A feature hook shared by containers is one mistake, said once.
			if !seen[e.Error()] {
				seen[e.Error()] = true
				errs = append(errs, e)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &HookCheckError{Err: errors.Join(errs...)}
}

// flatten is the errors errors.Join made err of (nil: none).
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// HookCheckError is a run stopped before any change by hooks that would
// fail (a syntax error, an undefined name), or with --strict by a feature
// nothing applies.
type HookCheckError struct{ Err error }

func (e *HookCheckError) Error() string {
	return e.Err.Error() + "\nnothing was changed: fix the above, then run again (phoenix validate checks them)"
}

func (e *HookCheckError) Unwrap() error { return e.Err }

// Hook kinds and states.
const (
	HookLua   = "lua"
	HookShell = "sh"

	HookReady         = "ready"
	HookNotExecutable = "not executable"
	HookAmbiguous     = "ambiguous"
)

// HookInfo describes a discovered hook.
type HookInfo struct {
	Kind  string // HookLua, HookShell or "" (none)
	Path  string // for HookAmbiguous: both paths, joined by " and "
	State string // HookReady, HookNotExecutable, HookAmbiguous
	// Digest is the sha256 of the hook's content: a changed hook runs
	// again on a converged container.
	Digest string
	// Problem says what is wrong and how to fix it when State is not ready.
	Problem string
}

// HookRequest is everything a hook run needs.
type HookRequest struct {
	Container *Container
	Config    *Config
	Backend   Backend // dry-run recorder in dry-run
	DryRun    bool
	Verbose   bool
	Timeout   time.Duration // 0: none
	LogFile   string        // MAIN_LOG_FILE
	Events    Sink          // output lines, warnings, recorded actions
	// Stage the hook runs as: "" is StageHook; a feature hook is
	// StageFeatures.
	Stage string
}

// NoHooks is the HookRunner used when no hooks are wired: every container
// reads as having no hook.
type NoHooks struct{}

func (NoHooks) Describe(*Container) HookInfo           { return HookInfo{} }
func (NoHooks) Run(context.Context, HookRequest) error { return nil }
