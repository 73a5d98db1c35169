package dryrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/hostsim"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

var (
	_ engine.Recorder        = (*Backend)(nil)
	_ engine.BlindSpots      = (*Backend)(nil)
	_ engine.Backend         = (*Backend)(nil)
	_ engine.GPUSupport      = (*Backend)(nil)
	_ engine.Resizer         = (*Backend)(nil)
	_ engine.SnapshotDeleter = (*Backend)(nil)
)

// noHostNote is HostNote's text when there is no host to read from.
const noHostNote = "no Proxmox host found (pct not on PATH): the plan assumes an empty host"

// Call is one mutating call the recorder absorbed.
type Call struct {
	Op   string   // "create", "set", "exec", ...
	Argv []string // pct argv, without "pct"
}

// planned is the state the plan gives one container once it touched it
// (created, cloned, changed or ran a command in it): from then on the host
// is not asked about it again.
type planned struct {
	exists  bool
	running bool
	lock    string
	config  map[string]string
	snaps   []string
	// files are what the plan put inside (pushes, the tagged installs,
	// docker run, mkdir), modelled by internal/hostsim. A file the plan
	// did not write is the host's business: base is the container on the
	// host whose answers stand for it (the container itself, or the source
	// a planned clone copies), 0 when there is none (a planned create).
	files *hostsim.MapFS
	base  int
	// taken are the snapshots the plan takes: what a clone of them gets.
	taken map[string]*planned
}

// copyPlanned is a deep copy of p.
func copyPlanned(p *planned) *planned {
	cp := *p
	cp.config = copyMap(p.config)
	cp.snaps = append([]string(nil), p.snaps...)
	cp.files = p.files.Clone()
	cp.taken = make(map[string]*planned, len(p.taken))
	for k, v := range p.taken {
		cp.taken[k] = v
	}
	return &cp
}

// Backend is the dry-run recorder.
type Backend struct {
	reads engine.Backend // nil: an empty host

	mu      sync.Mutex
	overlay map[int]*planned
	calls   []Call
	files   map[string][]byte  // Proxmox files the plan wrote, by path under /etc/pve
	removed map[string]bool    // Proxmox files the plan removed
	dirs    map[string]hostDir // host directories the plan made
	// blind are the planned containers whose inside the host could not
	// show (stopped there): what the plan does in them is known after run.
	blind map[int]bool
}

// Blind reports whether the plan could not look inside ctid (its host
// container is stopped, so a probe cannot run): its actions from then on
// are a guess, known after run (engine.BlindSpots).
func (b *Backend) Blind(ctid int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blind[ctid]
}

// New returns the recorder. reads answers reads (the pct backend when `pct`
// is on PATH, else nil = empty host). Only reads, and probes on containers
// the plan has not touched, ever reach it.
func New(reads engine.Backend) *Backend {
	return &Backend{reads: reads, overlay: map[int]*planned{}, blind: map[int]bool{}}
}

// Records is true: mutating calls are recorded, not made (engine.Recorder).
func (b *Backend) Records() bool { return true }

// Name is "dry-run".
func (b *Backend) Name() string { return "dry-run" }

// HostNote says what the plan assumes about the host: "" when it reads a
// real one.
func (b *Backend) HostNote() string {
	if b.reads == nil {
		return noHostNote
	}
	return ""
}

// GPUSupported asks the host backend; without one GPUs are assumed.
func (b *Backend) GPUSupported() (bool, string) {
	if g, ok := b.reads.(engine.GPUSupport); ok {
		return g.GPUSupported()
	}
	return true, ""
}

// Calls returns the mutating calls absorbed so far, in order.
func (b *Backend) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Call(nil), b.calls...)
}

func (b *Backend) record(op string, argv []string) {
	b.calls = append(b.calls, Call{Op: op, Argv: argv})
}

// Status is the planned state of a container the plan touched, else the
// host's.
func (b *Backend) Status(ctx context.Context, ctid int) (engine.Status, error) {
	if p := b.planned(ctid); p != nil {
		if !p.exists {
			return engine.Status{}, nil
		}
		return engine.Status{Exists: true, Running: p.running, Lock: p.lock}, nil
	}
	if b.reads == nil {
		return engine.Status{}, nil
	}
	return b.reads.Status(ctx, ctid)
}

// List is the host's containers with the planned ones merged in.
func (b *Backend) List(ctx context.Context) ([]engine.ListEntry, error) {
	byID := map[int]engine.ListEntry{}
	if b.reads != nil {
		host, err := b.reads.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range host {
			byID[e.CTID] = e
		}
	}
	b.mu.Lock()
	for id, p := range b.overlay {
		if !p.exists {
			delete(byID, id)
			continue
		}
		byID[id] = engine.ListEntry{CTID: id, Status: runState(p.running), Lock: p.lock, Name: p.config["hostname"]}
	}
	b.mu.Unlock()
	out := make([]engine.ListEntry, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CTID < out[j].CTID })
	return out, nil
}

func runState(running bool) string {
	if running {
		return "running"
	}
	return "stopped"
}

// Config is the planned configuration, else the host's.
func (b *Backend) Config(ctx context.Context, ctid int) (map[string]string, error) {
	if p := b.planned(ctid); p != nil {
		if !p.exists {
			return nil, notExist(ctid)
		}
		return copyMap(p.config), nil
	}
	if b.reads == nil {
		return nil, notExist(ctid)
	}
	return b.reads.Config(ctx, ctid)
}

// ListSnapshots is the planned snapshots, else the host's.
func (b *Backend) ListSnapshots(ctx context.Context, ctid int) ([]string, error) {
	if p := b.planned(ctid); p != nil {
		if !p.exists {
			return nil, notExist(ctid)
		}
		return append([]string{}, p.snaps...), nil
	}
	if b.reads == nil {
		return nil, notExist(ctid)
	}
	return b.reads.ListSnapshots(ctx, ctid)
}

func notExist(ctid int) error {
	return fmt.Errorf("dry-run: container %d: %w", ctid, engine.ErrNotExist)
}

// planned returns a copy of ctid's planned state, nil when the plan has
// not touched it.
func (b *Backend) planned(ctid int) *planned {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.overlay[ctid]
	if p == nil {
		return nil
	}
	return copyPlanned(p)
}

// touch returns ctid's planned state for a change, loading it from the
// host the first time. It is called without b.mu held; the caller applies
// its change under b.mu via update.
func (b *Backend) touch(ctx context.Context, ctid int) (*planned, error) {
	b.mu.Lock()
	p := b.overlay[ctid]
	b.mu.Unlock()
	if p != nil {
		return p, nil
	}
	loaded, err := b.load(ctx, ctid)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.overlay[ctid]; p != nil { // loaded meanwhile by another stage
		return p, nil
	}
	b.overlay[ctid] = loaded
	return loaded, nil
}

// load reads ctid's current state from the host.
func (b *Backend) load(ctx context.Context, ctid int) (*planned, error) {
	p := &planned{config: map[string]string{}, files: &hostsim.MapFS{}}
	if b.reads == nil {
		return p, nil
	}
	st, err := b.reads.Status(ctx, ctid)
	if err != nil {
		return nil, fmt.Errorf("dry-run: read container %d: %w", ctid, err)
	}
	if !st.Exists {
		return p, nil
	}
	cfg, err := b.reads.Config(ctx, ctid)
	if err != nil && !errors.Is(err, engine.ErrNotExist) {
		return nil, fmt.Errorf("dry-run: read container %d: %w", ctid, err)
	}
	snaps, err := b.reads.ListSnapshots(ctx, ctid)
	if err != nil && !errors.Is(err, engine.ErrNotExist) {
		return nil, fmt.Errorf("dry-run: read container %d: %w", ctid, err)
	}
	p.exists, p.running, p.lock, p.base = true, st.Running, st.Lock, ctid
	if cfg != nil {
		p.config = cfg
	}
	p.snaps = snaps
	return p, nil
}

// change records a mutating call and applies fn to ctid's planned state.
func (b *Backend) change(ctx context.Context, op string, ctid int, argv []string, fn func(p *planned)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := b.touch(ctx, ctid)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record(op, argv)
	fn(p)
	return nil
}

// replace records a call that makes ctid anew (create, clone): its
// current state does not matter, so the host is not asked.
func (b *Backend) replace(ctx context.Context, op string, ctid int, argv []string, p *planned) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record(op, argv)
	b.overlay[ctid] = p
	return nil
}

func (b *Backend) Create(ctx context.Context, spec engine.CreateSpec) error {
	cfg := map[string]string{"ostemplate": spec.Template}
	applyOptions(cfg, spec.Options)
	return b.replace(ctx, "create", spec.CTID, engine.CreateArgv(spec), &planned{exists: true, config: cfg, files: &hostsim.MapFS{}})
}

// Clone plans the new container as a copy of the source's snapshot (or
// its current state): config and files, planned or real. A source the
// plan did not touch is on the host: the clone's files are then the
// source's, and probes on them go to the source.
func (b *Backend) Clone(ctx context.Context, spec engine.CloneSpec) error {
	var p *planned
	if src := b.planned(spec.Source); src != nil {
		p = src
		if snap := src.taken[spec.Snapshot]; snap != nil {
			p = copyPlanned(snap)
		}
	} else {
		cfg, err := b.Config(ctx, spec.Source)
		if err != nil && !errors.Is(err, engine.ErrNotExist) {
			return err
		}
		p = &planned{config: copyMap(cfg), files: &hostsim.MapFS{}}
		if b.reads != nil && err == nil {
			p.base = spec.Source
		}
	}
	p.exists, p.running, p.lock, p.snaps, p.taken = true, false, "", nil, nil
	delete(p.config, "template")
	delete(p.config, "lock")
	delete(p.config, "parent")
	if spec.Hostname != "" {
		p.config["hostname"] = spec.Hostname
	}
	if spec.Description != "" {
		p.config["description"] = spec.Description
	}
	return b.replace(ctx, "clone", spec.CTID, engine.CloneArgv(spec), p)
}

func (b *Backend) Set(ctx context.Context, ctid int, opts []engine.Option, del []string) error {
	return b.change(ctx, "set", ctid, engine.SetArgv(ctid, opts, del), func(p *planned) {
		applyOptions(p.config, opts)
		for _, k := range del {
			delete(p.config, k)
		}
	})
}

func (b *Backend) AppendRaw(ctx context.Context, ctid int, lines []string) error {
	return b.change(ctx, "append-raw", ctid, engine.AppendRawArgv(ctid, lines), func(p *planned) {
		pve.AppendRaw(p.config, lines)
	})
}

func (b *Backend) Start(ctx context.Context, ctid int) error {
	return b.change(ctx, "start", ctid, engine.StartArgv(ctid), func(p *planned) { p.running = true })
}

func (b *Backend) Stop(ctx context.Context, ctid int) error {
	return b.change(ctx, "stop", ctid, engine.StopArgv(ctid), func(p *planned) { p.running = false })
}

func (b *Backend) Shutdown(ctx context.Context, ctid int, timeout time.Duration) error {
	return b.change(ctx, "shutdown", ctid, engine.ShutdownArgv(ctid, timeout), func(p *planned) { p.running = false })
}

func (b *Backend) Snapshot(ctx context.Context, ctid int, name string) error {
	return b.change(ctx, "snapshot", ctid, engine.SnapshotArgv(ctid, name), func(p *planned) {
		p.snaps = append(p.snaps, name)
		if p.taken == nil {
			p.taken = map[string]*planned{}
		}
		p.taken[name] = copyPlanned(p)
	})
}

// Resize sets the planned rootfs size (absolute, "64G").
func (b *Backend) Resize(ctx context.Context, ctid int, disk, size string) error {
	return b.change(ctx, "resize", ctid, engine.ResizeArgv(ctid, disk, size), func(p *planned) {
		p.config[disk] = engine.WithSize(p.config[disk], size)
	})
}

func (b *Backend) DeleteSnapshot(ctx context.Context, ctid int, name string) error {
	return b.change(ctx, "delsnapshot", ctid, engine.DelSnapshotArgv(ctid, name), func(p *planned) {
		p.snaps = slices.DeleteFunc(p.snaps, func(s string) bool { return s == name })
		delete(p.taken, name)
	})
}

func (b *Backend) Destroy(ctx context.Context, ctid int) error {
	return b.change(ctx, "destroy", ctid, engine.DestroyArgv(ctid), func(p *planned) {
		*p = planned{config: map[string]string{}, files: &hostsim.MapFS{}}
	})
}

// pushSource stands for the host file pct push would read.
const pushSource = "<content>"

func (b *Backend) Push(ctx context.Context, ctid int, dest string, content []byte, opts engine.PushOptions) error {
	return b.change(ctx, "push", ctid, engine.PushArgv(ctid, pushSource, dest, opts), func(p *planned) {
		_ = p.files.WriteFile(dest, content, 0o644)
	})
}

// Exec answers a probe from the host when the plan has not touched the
// container; else as internal/hostsim models the container the plan
// leaves (what it installed, pushed, ran, and what a clone inherited),
// asking the host (base) only what the plan cannot know. Any other Exec is
// absorbed: code 0, no output, and its effect on the model applied (a
// tagged install, docker run, mkdir).
func (b *Backend) Exec(ctx context.Context, ctid int, argv []string, opts engine.ExecOptions) (engine.ExecResult, error) {
	if err := ctx.Err(); err != nil {
		return engine.ExecResult{}, err
	}
	if !opts.Probe {
		err := b.change(ctx, "exec", ctid, engine.ExecArgv(ctid, argv, opts.Env), func(p *planned) {
			// The plan assumes its commands succeed: what they need is there.
			_, _ = hostsim.Exec(layered{p: p, assume: true}, hostsim.GPUs(p.config), hostsim.StripEnv(argv), nil)
		})
		return engine.ExecResult{}, err
	}
	p := b.planned(ctid)
	switch {
	case p == nil && b.reads != nil:
		return b.reads.Exec(ctx, ctid, argv, opts)
	case p == nil || !p.exists:
		return engine.ExecResult{}, fmt.Errorf("dry-run: exec in container %d: %w", ctid, engine.ErrNotExist)
	}
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		if probes, ok := pve.ProbesOf(argv[2]); ok {
			return b.probeBatch(ctx, ctid, p, probes)
		}
	}
	var stdin io.Reader
	if opts.Stdin != nil {
		stdin = bytes.NewReader(opts.Stdin)
	}
	res, err := hostsim.Exec(layered{p: p}, hostsim.GPUs(p.config), hostsim.StripEnv(argv), stdin)
	if errors.Is(err, hostsim.ErrUnknown) {
		return b.askHost(ctx, ctid, p.base, argv, opts), ctx.Err()
	}
	if err != nil {
		return engine.ExecResult{}, fmt.Errorf("dry-run: exec in container %d: %w", ctid, err)
	}
	return engine.ExecResult{Code: res.Code, Stdout: res.Stdout.String(), Stderr: res.Stderr.String()}, nil
}

// askHost forwards a probe the model cannot answer for ctid to the host
// container whose files stand for the planned one's. A host that cannot
// answer (that container is stopped) leaves nothing known to be
// installed, and ctid blind.
func (b *Backend) askHost(ctx context.Context, ctid, base int, argv []string, opts engine.ExecOptions) engine.ExecResult {
	r, err := b.reads.Exec(ctx, base, argv, opts)
	if err != nil {
		b.mu.Lock()
		b.blind[ctid] = true
		b.mu.Unlock()
		return plannedProbe(argv)
	}
	return r
}

// plannedProbe is the answer of a container about which nothing is known
// to be installed.
func plannedProbe(argv []string) engine.ExecResult {
	name := ""
	if len(argv) > 0 {
		name = argv[0]
	}
	return engine.ExecResult{Code: 127, Stderr: "planned container: " + name + " not known to be installed\n"}
}

// layered is a planned container's files over its base on the host: what
// the plan wrote is known; the rest is ErrUnknown when there is a base,
// else absent. With assume (applying a command's effects, which the plan
// assumes succeeds), what is not known is taken to be there.
type layered struct {
	p      *planned
	assume bool
}

func (l layered) miss(p string) error {
	if l.p.base != 0 {
		return hostsim.ErrUnknown
	}
	return &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
}

func (l layered) ReadFile(p string) ([]byte, error) {
	data, err := l.p.files.ReadFile(p)
	switch {
	case err == nil:
		return data, nil
	case l.assume:
		return nil, nil
	}
	return nil, l.miss(p)
}

func (l layered) Stat(p string) (bool, int64, error) {
	isDir, size, err := l.p.files.Stat(p)
	switch {
	case err == nil:
		return isDir, size, nil
	case l.assume && l.p.base != 0:
		// What a planned command needs on the host (docker for docker
		// run) is taken to be there, and stays so for later probes.
		_ = l.p.files.WriteFile(p, nil, 0o755)
		return false, 0, nil
	}
	return false, 0, l.miss(p)
}

func (l layered) WriteFile(p string, data []byte, perm fs.FileMode) error {
	return l.p.files.WriteFile(p, data, perm)
}

func (l layered) Mkdir(p string, _ bool) error { return l.p.files.Mkdir(p, true) }

func applyOptions(cfg map[string]string, opts []engine.Option) {
	for _, o := range opts {
		cfg[o.Key] = o.Value
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
