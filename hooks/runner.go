package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

var (
	_ engine.HookRunner  = (*Runner)(nil)
	_ engine.HookChecker = (*Runner)(nil)
)

// Options configure a Runner.
type Options struct {
	// Dir is the hooks dir.
	Dir string
	// ShimExe is the binary exposed as pct, qm, pvesm, pveam, pvesh, zfs and
	// zpool on a shell hook's PATH when the hook must reach containers
	// through the Backend (dry-run, or a backend other than pct). It must
	// dispatch on argv[0] with IsShim/ShimMain. "": os.Executable().
	ShimExe string
	// KillGrace is how long a hook's process group has between SIGTERM and
	// SIGKILL. 0: 2s.
	KillGrace time.Duration
	// CgroupRoot is the cgroup v2 dir under which a real run's shell hook
	// gets a cgroup of its own (ct<CTID>). "": $PHOENIX_HOOK_CGROUP, else
	// <cgroup2 mount>/phoenix-hooks.
	CgroupRoot string
	// MaxShimCalls bounds the pct, qm, ... calls of one shell hook run
	// through the shim; later calls fail. 0: DefaultMaxShimCalls.
	MaxShimCalls int
}

// Runner runs per-container hooks; it implements engine.HookRunner.
type Runner struct {
	o Options
	// shadowDirs, for tests: where the dry-run isolation looks for the
	// host's pct, qm, ... to shadow with the shim (nil: the usual dirs).
	shadowDirs []string
	// hostCheck, for tests: isolationHost, or what stands for it.
	hostCheck func(euid int, overlay func() bool) error
	// bwrap, for tests: the bubblewrap binary ("": found on PATH).
	bwrap string

	// names is the hooks dir's listing, read once by CheckHook.
	namesOnce sync.Once
	names     []string
}

// NewRunner returns a Runner for the hooks in o.Dir.
func NewRunner(o Options) *Runner {
	if o.KillGrace <= 0 {
		o.KillGrace = 2 * time.Second
	}
	return &Runner{o: o}
}

// Describe finds ct's hook without running it.
func (r *Runner) Describe(ct *engine.Container) engine.HookInfo {
	return describe(r.o.Dir, ct.CTID)
}

// Run runs the container's hook, whatever its kind. A container without a
// hook succeeds at once.
//
// A shell hook in dry-run runs isolated (see isolate_linux.go); where the
// isolation cannot be set up it is not run: Run returns an error matching
// engine.ErrHookNotRun, "dry-run: hook <path> listed, not run: <why>",
// and the engine skips the stage with that text (not a failure).
func (r *Runner) Run(ctx context.Context, req engine.HookRequest) error {
	if req.Container == nil {
		return errors.New("hook run: no container given")
	}
	info := r.Describe(req.Container)
	switch {
	case info.Kind == "":
		return nil
	case info.State != engine.HookReady:
		return errors.New(info.Problem)
	case info.Kind == engine.HookLua:
		return runLua(ctx, req, info.Path)
	}
	return r.runShell(ctx, req, info.Path, req.Container.HookArgs)
}

var _ engine.HostScripts = (*Runner)(nil)

// RunHostScript runs the shell script at path (a file of the hooks dir) on
// the host with the legacy hook contract: the hook's environment, the
// hooks dir as its working dir, args (${NAME} expanded as in hook_args;
// nil: the CTID), its output streamed under req.Stage, its timeout and
// process group; in dry-run isolated with pct shimmed, as a shell hook.
func (r *Runner) RunHostScript(ctx context.Context, req engine.HookRequest, path string, args []string) error {
	if req.Container == nil {
		return errors.New("host script run: no container given")
	}
	return r.runShell(ctx, req, path, args)
}

// needsShim reports whether a shell hook must reach containers through
// req.Backend rather than the host's own pct.
func needsShim(req engine.HookRequest) bool {
	return req.DryRun || req.Backend == nil || req.Backend.Name() != "pct"
}

// runShell runs the shell file at path with hookArgs (as hook_args: nil
// is the CTID).
func (r *Runner) runShell(ctx context.Context, req engine.HookRequest, path string, hookArgs []string) error {
	// Errors do not name the hook: the engine does ("hook <file>: ...").
	source, shown := filepath.Base(path), path
	// Absolute: the hook runs from the hooks dir (and, in dry-run, from
	// inside the isolation), whatever the working dir of phoenix.
	path, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("hook path: %w", err)
	}
	dir, err := filepath.Abs(r.o.Dir)
	if err != nil {
		return fmt.Errorf("hooks dir: %w", err)
	}
	vars := HookEnv(req)
	args, err := ExpandArgs(hookArgs, vars)
	if err != nil {
		return err
	}
	var extra []string
	if needsShim(req) {
		srv, err := r.startShim(ctx, req, source)
		if err != nil {
			return err
		}
		defer srv.Close()
		extra = srv.env()
	}
	env := environ(vars, extra...)

	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if req.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, req.Timeout)
	}
	defer cancel()

	p := &proc{ctid: req.Container.CTID, stage: orHook(req.Stage), source: source, events: req.Events, grace: r.o.KillGrace,
		keep: req.Container.HookKeepProcesses}
	if req.DryRun {
		err = r.runIsolated(runCtx, p, path, dir, args, env)
		if errors.Is(err, errNotIsolated) {
			return &notRunError{path: shown, why: errors.Unwrap(err)}
		}
	} else {
		err = r.runReal(runCtx, p, path, dir, args, env)
	}
	timedOut := err != nil && ctx.Err() == nil && errors.Is(runCtx.Err(), context.DeadlineExceeded)
	return p.exitError(err, req.Timeout, timedOut)
}

// runReal runs the hook for real: in a cgroup of its own (see
// cgroup_linux.go) unless the container keeps what its hook starts.
func (r *Runner) runReal(ctx context.Context, p *proc, path, dir string, args, env []string) error {
	newCmd := func() *exec.Cmd {
		cmd := exec.Command(path, args...)
		cmd.Args[0] = path
		cmd.Dir = dir
		cmd.Env = env
		// The hook dies with phoenix; what it started stays in its cgroup
		// for the next run to end.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	p.cmd = newCmd()
	if !p.keep {
		p.cg = r.trackReal(p, p.cmd)
	}
	wait, err := p.start()
	// ETXTBSY: the hook file is still open for writing somewhere (a fork
	// of a process that just wrote it holds the fd until its exec); it
	// clears in a moment.
	for i := 0; errors.Is(err, syscall.ETXTBSY) && i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		cmd := newCmd()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = p.cmd.SysProcAttr.UseCgroupFD, p.cmd.SysProcAttr.CgroupFD
		p.cmd = cmd
		wait, err = p.start()
	}
	if err != nil && p.cg != nil && cgroupStartFailed(err) {
		p.warn(fmt.Sprintf("cannot start the hook in its cgroup (%v): what it leaves running is ended only within its process group", err))
		p.endLeftovers()
		p.cmd = newCmd()
		wait, err = p.start()
	}
	if err != nil {
		p.endLeftovers()
		return err
	}
	return p.waitCtx(ctx, wait)
}

func (r *Runner) shimExe() (string, error) {
	if r.o.ShimExe != "" {
		return r.o.ShimExe, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the phoenix binary for the pct shim: %w", err)
	}
	return exe, nil
}

// notRunError is a dry-run shell hook listed, not run; it matches
// engine.ErrHookNotRun, so the engine skips the stage with this text.
type notRunError struct {
	path string
	why  error
}

func (e *notRunError) Error() string {
	return fmt.Sprintf("dry-run: hook %s listed, not run: %v", e.path, e.why)
}

func (e *notRunError) Is(t error) bool { return t == engine.ErrHookNotRun }
func (e *notRunError) Unwrap() error   { return e.why }
