package engine

import (
	"context"
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
}

// NoHooks is the HookRunner used when no hooks are wired: every container
// reads as having no hook.
type NoHooks struct{}

func (NoHooks) Describe(*Container) HookInfo           { return HookInfo{} }
func (NoHooks) Run(context.Context, HookRequest) error { return nil }
