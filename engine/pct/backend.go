package pct

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

var (
	_ engine.Backend  = (*Backend)(nil)
	_ engine.HostDirs = (*Backend)(nil)
	_ engine.PVEFiles = (*Backend)(nil)
)

// ErrNotFound is returned (wrapped in an *engine.ExitError with
// ExitEnvironment) by New when there is no pct to run.
var ErrNotFound = errors.New("pct not found on PATH: is this a Proxmox VE host? use --backend lxc or --dry-run")

// Environment variables read by OptionsFromEnv.
const (
	// EnvPVEDir overrides /etc/pve (end-to-end tests point it at the fake
	// pct's <state>/pve).
	EnvPVEDir = "PHOENIX_PVE_DIR"
	// EnvLockDir overrides the config lock directory.
	EnvLockDir = "PHOENIX_PVE_LOCK_DIR"
	// EnvHostRoot is prepended to the host paths of bind mounts (tests
	// point it at a temp dir); "" is /.
	EnvHostRoot = "PHOENIX_HOST_ROOT"
)

// OptionsFromEnv reads PHOENIX_PVE_DIR and PHOENIX_PVE_LOCK_DIR through
// getenv; unset ones keep their defaults.
func OptionsFromEnv(getenv func(string) string) Options {
	return Options{PVEDir: getenv(EnvPVEDir), LockDir: getenv(EnvLockDir), HostRoot: getenv(EnvHostRoot)}
}

// Options configure the backend.
type Options struct {
	// Path of the pct executable; "" looks "pct" up on PATH.
	Path string
	// PVEDir is the Proxmox cluster file system; "" means /etc/pve.
	// AppendRaw writes <PVEDir>/lxc/<CTID>.conf.
	PVEDir string
	// LockDir holds Proxmox's per-container config locks
	// (pve-config-<CTID>.lock), taken around AppendRaw; "" means
	// /run/lock/lxc, or <PVEDir>/lock when PVEDir is not /etc/pve (so a
	// test's PVEDir keeps its locks to itself).
	LockDir string
	// Stderr, when set, also receives pct's stderr line by line (task
	// progress, warnings), for every command.
	Stderr io.Writer
	// Env holds extra KEY=VALUE variables for pct, on top of phoenix's
	// own environment.
	Env []string
	// HostRoot is prepended to the host directories of bind mounts
	// (EnsureHostDir); "" is /.
	HostRoot string
}

const defaultPVEDir = "/etc/pve"

// Backend runs the real pct.
type Backend struct {
	// LocalHost makes bind mounts' host directories and writes the files
	// of PVEDir (the firewall file).
	engine.LocalHost

	path    string
	pveDir  string
	lockDir string
	stderr  io.Writer
	env     []string

	killGrace time.Duration
	// retries of transient lock errors, and the pause between them
	// (tests make it instant).
	retries   int
	retryBase time.Duration
	sleep     func(ctx context.Context, d time.Duration) error
}

// New finds pct and returns the backend.
func New(opts Options) (*Backend, error) {
	path := opts.Path
	if path == "" {
		p, err := exec.LookPath("pct")
		if err != nil {
			return nil, &engine.ExitError{Code: engine.ExitEnvironment, Err: ErrNotFound}
		}
		path = p
	} else if info, err := os.Stat(path); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return nil, &engine.ExitError{Code: engine.ExitEnvironment,
			Err: fmt.Errorf("%w (%s is not an executable file)", ErrNotFound, path)}
	}
	b := &Backend{path: path, pveDir: opts.PVEDir, lockDir: opts.LockDir, stderr: opts.Stderr, env: opts.Env, killGrace: defaultKillGrace,
		retries: defaultRetryAttempts, retryBase: defaultRetryBase, sleep: sleepCtx}
	switch {
	case b.pveDir == "" || b.pveDir == defaultPVEDir:
		b.pveDir = defaultPVEDir
		if b.lockDir == "" {
			b.lockDir = "/run/lock/lxc"
		}
	case b.lockDir == "":
		b.lockDir = filepath.Join(b.pveDir, "lock")
	}
	b.LocalHost = engine.LocalHost{Root: opts.HostRoot, PVEDir: b.pveDir}
	return b, nil
}

// Name is "pct".
func (b *Backend) Name() string { return "pct" }

// EnvInFile is true: an exec's environment is pushed in a file
// (engine.EnvFileExec).
func (b *Backend) EnvInFile() bool { return true }

// Path is the pct executable the backend runs.
func (b *Backend) Path() string { return b.path }

// Status runs `pct status`, plus `pct config` for the lock of an existing
// container. A missing container is Status{Exists: false} without error.
func (b *Backend) Status(ctx context.Context, ctid int) (engine.Status, error) {
	out, err := b.output(ctx, engine.StatusArgv(ctid))
	if errors.Is(err, engine.ErrNotExist) {
		return engine.Status{}, nil
	}
	if err != nil {
		return engine.Status{}, err
	}
	running, err := parseStatus(out)
	if err != nil {
		return engine.Status{}, fmt.Errorf("pct status %d: %w", ctid, err)
	}
	cfg, err := b.Config(ctx, ctid)
	if errors.Is(err, engine.ErrNotExist) { // destroyed in between
		return engine.Status{}, nil
	}
	if err != nil {
		return engine.Status{}, err
	}
	return engine.Status{Exists: true, Running: running, Lock: cfg["lock"]}, nil
}

// List runs `pct list`.
func (b *Backend) List(ctx context.Context) ([]engine.ListEntry, error) {
	out, err := b.output(ctx, engine.ListArgv())
	if err != nil {
		return nil, err
	}
	entries, err := parseList(out)
	if err != nil {
		return nil, fmt.Errorf("pct list: %w", err)
	}
	return entries, nil
}

// Config reads /etc/pve/lxc/<CTID>.conf when it can (no pct call), else
// runs `pct config`.
func (b *Backend) Config(ctx context.Context, ctid int) (map[string]string, error) {
	if f, ok := b.readConf(ctid); ok {
		return f.Current.Config(), nil
	}
	out, err := b.output(ctx, engine.ConfigArgv(ctid))
	if err != nil {
		return nil, err
	}
	return parseConfig(out)
}

// ListSnapshots reads the snapshot sections of /etc/pve/lxc/<CTID>.conf
// when it can, else runs `pct listsnapshot`.
func (b *Backend) ListSnapshots(ctx context.Context, ctid int) ([]string, error) {
	if f, ok := b.readConf(ctid); ok {
		return f.SnapshotNames(), nil
	}
	out, err := b.output(ctx, engine.ListSnapshotsArgv(ctid))
	if err != nil {
		return nil, err
	}
	return parseSnapshots(out), nil
}

func (b *Backend) Create(ctx context.Context, spec engine.CreateSpec) error {
	return b.do(ctx, engine.CreateArgv(spec))
}

func (b *Backend) Clone(ctx context.Context, spec engine.CloneSpec) error {
	return b.do(ctx, engine.CloneArgv(spec))
}

func (b *Backend) Set(ctx context.Context, ctid int, opts []engine.Option, del []string) error {
	return b.do(ctx, engine.SetArgv(ctid, opts, del))
}

func (b *Backend) Start(ctx context.Context, ctid int) error {
	return b.do(ctx, engine.StartArgv(ctid))
}

func (b *Backend) Stop(ctx context.Context, ctid int) error {
	return b.do(ctx, engine.StopArgv(ctid))
}

func (b *Backend) Shutdown(ctx context.Context, ctid int, timeout time.Duration) error {
	return b.do(ctx, engine.ShutdownArgv(ctid, timeout))
}

func (b *Backend) Snapshot(ctx context.Context, ctid int, name string) error {
	return b.do(ctx, engine.SnapshotArgv(ctid, name))
}

func (b *Backend) Destroy(ctx context.Context, ctid int) error {
	return b.do(ctx, engine.DestroyArgv(ctid))
}

func (b *Backend) Resize(ctx context.Context, ctid int, disk, size string) error {
	return b.do(ctx, engine.ResizeArgv(ctid, disk, size))
}

func (b *Backend) DeleteSnapshot(ctx context.Context, ctid int, name string) error {
	return b.do(ctx, engine.DelSnapshotArgv(ctid, name))
}

// Push writes content to a private temporary file and runs `pct push`.
func (b *Backend) Push(ctx context.Context, ctid int, dest string, content []byte, opts engine.PushOptions) error {
	f, err := os.CreateTemp("", "phoenix-push-*")
	if err != nil {
		return fmt.Errorf("pct push %d: temporary file: %w", ctid, err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(content) // CreateTemp makes it 0600
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("pct push %d: temporary file: %w", ctid, err)
	}
	return b.do(ctx, engine.PushArgv(ctid, f.Name(), dest, opts))
}

// execArgv is the pct argv of an exec. An environment (which may hold a
// secret, such as a token a hook read) never goes on the command line,
// where ps shows it: it is pushed into the container as a 0600 file under
// a random name that a wrapper reads and removes before it runs argv
// (pve.EnvExecCalls, which the dry-run records the same way). Always, not
// only for known secrets: the rule is simple and argv stays free of every
// value. Lua's opts.stdin is left to the command.
func (b *Backend) execArgv(ctx context.Context, ctid int, argv []string, env map[string]string) ([]string, error) {
	if len(env) == 0 {
		return engine.ExecArgv(ctid, argv, nil), nil
	}
	file, err := pve.NewEnvFile()
	if err != nil {
		return nil, fmt.Errorf("pct exec %d: %w", ctid, err)
	}
	calls, err := pve.EnvExecCalls(ctid, file, argv, env)
	if err != nil {
		return nil, fmt.Errorf("pct exec %d: %w", ctid, err)
	}
	if err := b.Push(ctx, ctid, calls.File, calls.Content, engine.PushOptions{Perms: pve.EnvFilePerms}); err != nil {
		return nil, fmt.Errorf("pct exec %d: environment: %w", ctid, err)
	}
	return calls.Exec, nil
}

// Exec runs `pct exec CTID -- argv` (with an environment: see execArgv). The command's own exit
// code is ExecResult.Code; an error means pct itself refused (container
// missing or stopped), could not run, or the timeout struck.
func (b *Backend) Exec(ctx context.Context, ctid int, argv []string, opts engine.ExecOptions) (engine.ExecResult, error) {
	if len(argv) == 0 {
		return engine.ExecResult{}, fmt.Errorf("pct exec %d: empty command", ctid)
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	execArgv, err := b.execArgv(ctx, ctid, argv, opts.Env)
	if err != nil {
		return engine.ExecResult{}, err
	}
	inv := invocation{argv: execArgv, stdin: opts.Stdin}
	if opts.Stdout != nil {
		inv.stdout = opts.Stdout
	}
	if opts.Stderr != nil {
		inv.stderr = opts.Stderr
	}
	if inv.stdin == nil {
		inv.stdin = []byte{}
	}
	out, err := b.run(ctx, inv)
	res := engine.ExecResult{Code: out.code, Stdout: out.stdout, Stderr: out.stderr}
	if err == nil {
		return res, nil
	}
	var pe *Error
	if errors.As(err, &pe) && ctx.Err() == nil && out.code >= 0 && !(out.code == 255 && pctMessageRe.MatchString(out.stderr)) {
		return res, nil // the command's own non-zero exit
	}
	if ctx.Err() != nil && opts.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return res, fmt.Errorf("pct exec %d: timed out after %s: %w", ctid, opts.Timeout, err)
	}
	return res, err
}
