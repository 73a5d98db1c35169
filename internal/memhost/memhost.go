// Package memhost is an in-process engine.Backend for tests: containers live
// in memory, every call is recorded as its pct argv, exec answers are
// scripted, and failures and latency can be injected.
package memhost

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/hostsim"
	"github.com/phoenix-hypervisor/phoenix/internal/hoststate"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

var _ engine.Backend = (*Backend)(nil)

// Container is a container as a test arranges it (Put) and reads it back
// (Get); the fake keeps it in the shared model, internal/hoststate.
type Container struct {
	Config map[string]string
	// Running, Lock and Snapshots are its Proxmox-level state. A
	// snapshot Put names captured the config and files of the moment a
	// clone of it is made.
	Running   bool
	Lock      string
	Snapshots []string
	Files     map[string][]byte // what Push wrote, by path
}

// Call is one recorded backend call.
type Call struct {
	Op     string   // "create", "exec", "status", ...
	Argv   []string // pct argv without "pct"
	Mutate bool     // true for calls that change state (exec counts as mutating, except a Probe)
	// Probe is set for an Exec with ExecOptions.Probe: a read-only check.
	Probe  bool
	Origin engine.Origin
}

// ExecFunc answers an Exec. Return handled=false to fall through to the
// default answer (code 0, empty output; "true" succeeds). An ExecFunc may
// write to opts.Stdout/Stderr itself, to stream lines before it returns
// (a test can then hold the command open on a channel); what it did not
// write there, Exec writes from the result, as a real pct exec would
// have printed it.
type ExecFunc func(ctid int, argv []string, opts engine.ExecOptions) (res engine.ExecResult, handled bool)

// Backend is the fake. The zero value is not usable: call New.
type Backend struct {
	mu       sync.Mutex
	host     *hoststate.Host
	files    *hoststate.Files // inside the containers
	calls    []Call
	pveFiles map[string][]byte  // the Proxmox config root's files (firewall/CTID.fw)
	hostDirs map[string]HostDir // bind mounts' host directories

	model bool // NewModel

	// Delay, when set, is slept on every call (respecting ctx).
	Delay time.Duration
	// Exec, when set, answers Exec calls first.
	Exec_ ExecFunc
	// Fail, when set, is asked before each call; a non-nil error fails it.
	Fail func(op string, ctid int, argv []string) error
}

// New returns an empty host whose containers answer what a test did not
// script with exit 0 (the contract of `phoenix hook test`).
func New() *Backend { return newBackend(false) }

// NewModel returns an empty host whose containers answer as
// internal/hostsim models them, as the fake pct's do: docker info fails
// until the Docker install ran, nvidia-smi reports the installed driver,
// a clone has its source snapshot's files.
func NewModel() *Backend { return newBackend(true) }

func newBackend(model bool) *Backend {
	files := hoststate.NewFiles()
	return &Backend{host: hoststate.New(files), files: files, model: model}
}

func (b *Backend) Name() string { return "fake" }

// Put adds or replaces a container, for arranging a test's host. Its
// Config and Files maps become the fake's own.
func (b *Backend) Put(ctid int, c *Container) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	if c.Files == nil {
		c.Files = map[string][]byte{}
	}
	ct := &hoststate.Container{Config: c.Config, Running: c.Running, Lock: c.Lock}
	for _, name := range c.Snapshots {
		ct.Snapshots = append(ct.Snapshots, hoststate.Snapshot{Name: name})
	}
	b.host.CTs[ctid] = ct
	b.files.Remove(ctid)
	b.files.Put(ctid, &hostsim.MapFS{Files: c.Files, Dirs: map[string]bool{}})
}

// Get returns a copy of a container's state, or nil.
func (b *Backend) Get(ctid int) *Container {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.host.CTs[ctid]
	if c == nil {
		return nil
	}
	return &Container{Running: c.Running, Lock: c.Lock, Config: maps.Clone(c.Config),
		Snapshots: c.SnapshotNames(), Files: b.files.Of(ctid).Clone().Files}
}

// Calls returns every call so far.
func (b *Backend) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Call(nil), b.calls...)
}

// MutatingCalls returns the calls that change state.
func (b *Backend) MutatingCalls() []Call {
	var out []Call
	for _, c := range b.Calls() {
		if c.Mutate {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls.
func (b *Backend) ResetCalls() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = nil
}

// begin records the call, applies Delay and Fail. It returns with b.mu held
// on success; the caller must unlock.
func (b *Backend) begin(ctx context.Context, op string, ctid int, argv []string, mutate bool) error {
	return b.beginCall(ctx, Call{Op: op, Argv: argv, Mutate: mutate}, ctid)
}

func (b *Backend) beginCall(ctx context.Context, c Call, ctid int) error {
	op, argv := c.Op, c.Argv
	c.Origin = engine.OriginFrom(ctx)
	b.mu.Lock()
	b.calls = append(b.calls, c)
	fail := b.Fail
	delay := b.Delay
	b.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if fail != nil {
		if err := fail(op, ctid, argv); err != nil {
			return err
		}
	}
	b.mu.Lock()
	return nil
}

// mutate records a mutating call and applies fn to the host's state under
// the lock.
func (b *Backend) mutate(ctx context.Context, op string, ctid int, argv []string, fn func(h *hoststate.Host) error) error {
	if err := b.begin(ctx, op, ctid, argv, true); err != nil {
		return err
	}
	defer b.mu.Unlock()
	return fn(b.host)
}

func (b *Backend) Status(ctx context.Context, ctid int) (engine.Status, error) {
	if err := b.begin(ctx, "status", ctid, engine.StatusArgv(ctid), false); err != nil {
		return engine.Status{}, err
	}
	defer b.mu.Unlock()
	c := b.host.CTs[ctid]
	if c == nil {
		return engine.Status{}, nil
	}
	return engine.Status{Exists: true, Running: c.Running, Lock: c.Lock}, nil
}

func (b *Backend) List(ctx context.Context) ([]engine.ListEntry, error) {
	if err := b.begin(ctx, "list", 0, engine.ListArgv(), false); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	var out []engine.ListEntry
	for _, id := range b.host.IDs() {
		c := b.host.CTs[id]
		st := "stopped"
		if c.Running {
			st = "running"
		}
		out = append(out, engine.ListEntry{CTID: id, Status: st, Lock: c.Lock, Name: c.Config["hostname"]})
	}
	return out, nil
}

func (b *Backend) Config(ctx context.Context, ctid int) (map[string]string, error) {
	if err := b.begin(ctx, "config", ctid, engine.ConfigArgv(ctid), false); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	c, err := b.host.Get(ctid)
	if err != nil {
		return nil, err
	}
	return maps.Clone(c.Config), nil
}

func (b *Backend) ListSnapshots(ctx context.Context, ctid int) ([]string, error) {
	if err := b.begin(ctx, "listsnapshot", ctid, engine.ListSnapshotsArgv(ctid), false); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	c, err := b.host.Get(ctid)
	if err != nil {
		return nil, err
	}
	return c.SnapshotNames(), nil
}

// apply records v and applies it to the host's state.
func (b *Backend) apply(ctx context.Context, v hoststate.Verb) error {
	return b.mutate(ctx, v.Op, v.CTID, v.Argv, v.Apply)
}

func (b *Backend) Create(ctx context.Context, s engine.CreateSpec) error {
	return b.apply(ctx, hoststate.CreateVerb(s))
}

func (b *Backend) Clone(ctx context.Context, s engine.CloneSpec) error {
	return b.apply(ctx, hoststate.CloneVerb(s))
}

func (b *Backend) Set(ctx context.Context, ctid int, opts []engine.Option, del []string) error {
	return b.apply(ctx, hoststate.SetVerb(ctid, opts, del))
}

func (b *Backend) AppendRaw(ctx context.Context, ctid int, lines []string) error {
	return b.apply(ctx, hoststate.AppendRawVerb(ctid, lines))
}

func (b *Backend) EditRaw(ctx context.Context, ctid int, edit engine.RawEdit) error {
	return b.apply(ctx, hoststate.EditRawVerb(ctid, edit))
}

func (b *Backend) Start(ctx context.Context, ctid int) error {
	return b.apply(ctx, hoststate.StartVerb(ctid))
}
func (b *Backend) Stop(ctx context.Context, ctid int) error {
	return b.apply(ctx, hoststate.StopVerb(ctid))
}

func (b *Backend) Shutdown(ctx context.Context, ctid int, timeout time.Duration) error {
	return b.apply(ctx, hoststate.ShutdownVerb(ctid, timeout))
}

func (b *Backend) Snapshot(ctx context.Context, ctid int, name string) error {
	return b.apply(ctx, hoststate.SnapshotVerb(ctid, name))
}

func (b *Backend) Destroy(ctx context.Context, ctid int) error {
	return b.apply(ctx, hoststate.DestroyVerb(ctid))
}

func (b *Backend) Push(ctx context.Context, ctid int, dest string, content []byte, o engine.PushOptions) error {
	return b.mutate(ctx, "push", ctid, engine.PushArgv(ctid, "<content>", dest, o), func(h *hoststate.Host) error {
		if err := h.CanPush(ctid); err != nil {
			return err
		}
		return b.files.Of(ctid).WriteFile(dest, content, 0o644)
	})
}

// EnvInFile is true: memhost stands for the pct backend, which pushes an
// exec's environment in a file (engine.EnvFileExec).
func (b *Backend) EnvInFile() bool { return true }

// Exec answers from Exec_ when set, then: "cat FILE" returns what Push
// wrote (exit 1 when absent), anything else exits 0 with no output. The
// output reaches ExecOptions' writers, when set, as pct's would.
func (b *Backend) Exec(ctx context.Context, ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, error) {
	var out, errw *countWriter
	if o.Stdout != nil {
		out = &countWriter{w: o.Stdout}
		o.Stdout = out
	}
	if o.Stderr != nil {
		errw = &countWriter{w: o.Stderr}
		o.Stderr = errw
	}
	res, err := b.exec(ctx, ctid, argv, o)
	if err == nil {
		out.rest(res.Stdout)
		errw.rest(res.Stderr)
	}
	return res, err
}

// countWriter passes writes on and notes whether any came: Exec writes
// the result's output only to a writer the answer did not stream to.
type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return c.w.Write(p)
}

func (c *countWriter) rest(s string) {
	if c != nil && c.n == 0 && s != "" {
		_, _ = c.w.Write([]byte(s))
	}
}

func (b *Backend) exec(ctx context.Context, ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, error) {
	execArgv := engine.ExecArgv(ctid, argv, nil)
	if len(o.Env) > 0 {
		// As pct is given it: the env file's push, under a random name,
		// then the wrapped exec (which removes the file again).
		file, err := pve.NewEnvFile()
		if err != nil {
			return engine.ExecResult{}, err
		}
		calls, err := pve.EnvExecCalls(ctid, file, argv, o.Env)
		if err != nil {
			return engine.ExecResult{}, fmt.Errorf("memhost: exec in container %d: %w", ctid, err)
		}
		if err := b.mutate(ctx, "push", ctid, calls.PushArgv(ctid, "<content>"), func(h *hoststate.Host) error { return h.CanPush(ctid) }); err != nil {
			return engine.ExecResult{}, err
		}
		execArgv = calls.Exec
	}
	if err := b.beginCall(ctx, Call{Op: "exec", Argv: execArgv, Mutate: !o.Probe, Probe: o.Probe}, ctid); err != nil {
		return engine.ExecResult{}, err
	}
	err := b.host.CanExec(ctid)
	h := b.Exec_
	b.mu.Unlock()
	if err != nil {
		return engine.ExecResult{}, err
	}
	if probes, ok := scriptedBatch(b.model, argv); ok {
		// A probe batch (pve.ProbeScript): each probe answered as a
		// single one would be, in one call.
		answers := make([]pve.ProbeAnswer, len(probes))
		for i, p := range probes {
			r, err := b.answer(ctid, h, p, o)
			if err != nil {
				return engine.ExecResult{}, err
			}
			answers[i] = pve.ProbeAnswer{Code: r.Code, Output: strings.TrimRight(r.Stdout+r.Stderr, "\n")}
		}
		return engine.ExecResult{Stdout: pve.FormatProbeOutput(answers)}, nil
	}
	return b.answer(ctid, h, argv, o)
}

// scriptedBatch reads the probes of a batch New's scripted inside answers
// (NewModel's hostsim runs batches itself).
func scriptedBatch(model bool, argv []string) ([][]string, bool) {
	if model || len(argv) != 3 || argv[0] != "sh" || argv[1] != "-c" {
		return nil, false
	}
	return pve.ProbesOf(argv[2])
}

// answer is one command's result inside ctid: the test's Exec_ h, else
// the scripted or modelled inside.
func (b *Backend) answer(ctid int, h ExecFunc, argv []string, o engine.ExecOptions) (engine.ExecResult, error) {
	if h != nil {
		if res, ok := h(ctid, argv, o); ok {
			return res, nil
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.host.Get(ctid)
	if err != nil {
		return engine.ExecResult{}, err
	}
	files := b.files.Of(ctid)
	if !b.model {
		return scripted(files, argv), nil
	}
	// The container's inside answers as internal/hostsim models it (what
	// Push, mkdir, docker run and the tagged installs wrote).
	var stdin io.Reader
	if o.Stdin != nil {
		stdin = bytes.NewReader(o.Stdin)
	}
	res, err := hostsim.Exec(files, hostsim.GPUs(c.Config), hostsim.StripEnv(argv), stdin)
	if err != nil {
		return engine.ExecResult{}, err
	}
	return engine.ExecResult{Code: res.Code, Stdout: res.Stdout.String(), Stderr: res.Stderr.String()}, nil
}

// scripted is New's answer to what a test did not script: "cat FILE"
// returns what Push wrote (exit 1 when absent), "false" exits 1, anything
// else exits 0 with no output.
func scripted(files *hostsim.MapFS, argv []string) engine.ExecResult {
	if len(argv) == 2 && argv[0] == "cat" {
		data, ok := files.Files[argv[1]]
		if !ok {
			return engine.ExecResult{Code: 1, Stderr: "cat: " + argv[1] + ": No such file or directory\n"}
		}
		return engine.ExecResult{Stdout: string(data)}
	}
	if len(argv) > 0 && argv[0] == "false" {
		return engine.ExecResult{Code: 1}
	}
	return engine.ExecResult{}
}
