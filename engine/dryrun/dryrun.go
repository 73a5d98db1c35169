package dryrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"sync"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/hostsim"
	"github.com/phoenix-hypervisor/phoenix/internal/hoststate"
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

// Backend is the dry-run recorder.
type Backend struct {
	reads engine.Backend // nil: an empty host

	mu sync.Mutex
	// host is the state the plan gives the containers it touched
	// (created, cloned, changed or ran a command in), internal/hoststate's
	// model: from then on the host is not asked about them again. It also
	// holds the host's state of the clone sources the plan read.
	host    *hoststate.Host
	touched map[int]bool
	// inside is what the plan put inside its containers (pushes, the
	// tagged installs, docker run, mkdir), modelled by internal/hostsim.
	// A file the plan did not write is the host's business: base is the
	// container on the host whose answers stand for a planned one (itself,
	// or the source a planned clone copies), absent when there is none (a
	// planned create).
	inside  *hoststate.Files
	base    map[int]int
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
	inside := hoststate.NewFiles()
	return &Backend{reads: reads, host: hoststate.New(inside), inside: inside, touched: map[int]bool{},
		base: map[int]int{}, blind: map[int]bool{}}
}

// Records is true: mutating calls are recorded, not made (engine.Recorder).
func (b *Backend) Records() bool { return true }

// EnvInFile is true: the plan is the pct backend's, which pushes an
// exec's environment in a file (engine.EnvFileExec).
func (b *Backend) EnvInFile() bool { return true }

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
	if c, touched := b.planned(ctid); touched {
		if c == nil {
			return engine.Status{}, nil
		}
		return engine.Status{Exists: true, Running: c.Running, Lock: c.Lock}, nil
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
	for id := range b.touched {
		c := b.host.CTs[id]
		if c == nil {
			delete(byID, id)
			continue
		}
		byID[id] = engine.ListEntry{CTID: id, Status: runState(c.Running), Lock: c.Lock, Name: c.Config["hostname"]}
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
	if c, touched := b.planned(ctid); touched {
		if c == nil {
			return nil, notExist(ctid)
		}
		return c.Config, nil
	}
	if b.reads == nil {
		return nil, notExist(ctid)
	}
	return b.reads.Config(ctx, ctid)
}

// ListSnapshots is the planned snapshots, else the host's.
func (b *Backend) ListSnapshots(ctx context.Context, ctid int) ([]string, error) {
	if c, touched := b.planned(ctid); touched {
		if c == nil {
			return nil, notExist(ctid)
		}
		return c.SnapshotNames(), nil
	}
	if b.reads == nil {
		return nil, notExist(ctid)
	}
	return b.reads.ListSnapshots(ctx, ctid)
}

func notExist(ctid int) error {
	return fmt.Errorf("dry-run: container %d: %w", ctid, engine.ErrNotExist)
}

// planned returns a copy of ctid's planned state (nil when the plan
// destroyed it or made nothing there), and whether the plan touched it.
func (b *Backend) planned(ctid int) (*hoststate.Container, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.touched[ctid] {
		return nil, false
	}
	if c := b.host.CTs[ctid]; c != nil {
		return c.Copy(), true
	}
	return nil, true
}

// touch makes ctid's state the plan's, loading it from the host the
// first time. It is called without b.mu held.
func (b *Backend) touch(ctx context.Context, ctid int) error {
	b.mu.Lock()
	touched := b.touched[ctid]
	b.mu.Unlock()
	if touched {
		return nil
	}
	loaded, err := b.load(ctx, ctid)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.touched[ctid] { // else loaded meanwhile by another stage
		b.adopt(ctid, loaded)
		b.touched[ctid] = true
	}
	return nil
}

// adopt puts ctid as the host has it (nil: absent) into the model, its
// files the host's (base). The caller holds b.mu.
func (b *Backend) adopt(ctid int, c *hoststate.Container) {
	_ = b.inside.Remove(ctid)
	delete(b.base, ctid)
	delete(b.host.CTs, ctid)
	if c != nil {
		b.host.CTs[ctid] = c
		b.base[ctid] = ctid
	}
}

// load reads ctid's current state from the host: nil when it does not
// exist. Its snapshots' configs are not known (the current one stands for
// them).
func (b *Backend) load(ctx context.Context, ctid int) (*hoststate.Container, error) {
	if b.reads == nil {
		return nil, nil
	}
	st, err := b.reads.Status(ctx, ctid)
	if err != nil {
		return nil, fmt.Errorf("dry-run: read container %d: %w", ctid, err)
	}
	if !st.Exists {
		return nil, nil
	}
	cfg, err := b.reads.Config(ctx, ctid)
	if err != nil && !errors.Is(err, engine.ErrNotExist) {
		return nil, fmt.Errorf("dry-run: read container %d: %w", ctid, err)
	}
	snaps, err := b.reads.ListSnapshots(ctx, ctid)
	if err != nil && !errors.Is(err, engine.ErrNotExist) {
		return nil, fmt.Errorf("dry-run: read container %d: %w", ctid, err)
	}
	c := &hoststate.Container{Config: cfg, Running: st.Running, Lock: st.Lock}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	for _, name := range snaps {
		c.Snapshots = append(c.Snapshots, hoststate.Snapshot{Name: name})
	}
	return c, nil
}

// change records v and applies it to the model, loading v's container
// from the host the first time.
func (b *Backend) change(ctx context.Context, v hoststate.Verb) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.touch(ctx, v.CTID); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record(v.Op, v.Argv)
	return v.Apply(b.host)
}

// anew records v, which makes its container anew (create, clone): what
// the host has there is not asked (the engine makes only what it found
// absent), the CTID is taken to be free. base is the host container whose
// answers stand for the new one's files (0: none).
func (b *Backend) anew(ctx context.Context, v hoststate.Verb, base func() int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record(v.Op, v.Argv)
	if !b.touched[v.CTID] {
		b.adopt(v.CTID, nil)
		b.touched[v.CTID] = true
	}
	if err := v.Apply(b.host); err != nil {
		return err
	}
	if id := base(); id != 0 {
		b.base[v.CTID] = id
	} else {
		delete(b.base, v.CTID)
	}
	return nil
}

func (b *Backend) Create(ctx context.Context, spec engine.CreateSpec) error {
	return b.anew(ctx, hoststate.CreateVerb(spec), func() int { return 0 })
}

// Clone plans the new container as a copy of the source's snapshot (or
// its current state): config and files, planned or real. A source the
// plan did not touch is on the host: it is read into the model (not
// touched: later reads still go to the host), the clone's files are the
// source's there, and probes on them go to the source.
func (b *Backend) Clone(ctx context.Context, spec engine.CloneSpec) error {
	if _, touched := b.planned(spec.Source); !touched {
		src, err := b.load(ctx, spec.Source)
		if err != nil {
			return err
		}
		b.mu.Lock()
		if !b.touched[spec.Source] {
			b.adopt(spec.Source, src)
		}
		b.mu.Unlock()
	}
	return b.anew(ctx, hoststate.CloneVerb(spec), func() int { return b.base[spec.Source] })
}

func (b *Backend) Set(ctx context.Context, ctid int, opts []engine.Option, del []string) error {
	return b.change(ctx, hoststate.SetVerb(ctid, opts, del))
}

func (b *Backend) AppendRaw(ctx context.Context, ctid int, lines []string) error {
	return b.change(ctx, hoststate.AppendRawVerb(ctid, lines))
}

func (b *Backend) EditRaw(ctx context.Context, ctid int, edit engine.RawEdit) error {
	return b.change(ctx, hoststate.EditRawVerb(ctid, edit))
}

func (b *Backend) Start(ctx context.Context, ctid int) error {
	return b.change(ctx, hoststate.StartVerb(ctid))
}
func (b *Backend) Stop(ctx context.Context, ctid int) error {
	return b.change(ctx, hoststate.StopVerb(ctid))
}

func (b *Backend) Shutdown(ctx context.Context, ctid int, timeout time.Duration) error {
	return b.change(ctx, hoststate.ShutdownVerb(ctid, timeout))
}

func (b *Backend) Snapshot(ctx context.Context, ctid int, name string) error {
	return b.change(ctx, hoststate.SnapshotVerb(ctid, name))
}

// Resize sets the planned disk size.
func (b *Backend) Resize(ctx context.Context, ctid int, disk, size string) error {
	return b.change(ctx, hoststate.ResizeVerb(ctid, disk, size))
}

func (b *Backend) DeleteSnapshot(ctx context.Context, ctid int, name string) error {
	return b.change(ctx, hoststate.DeleteSnapshotVerb(ctid, name))
}

// Destroy plans ctid gone; what the plan put inside it goes too.
func (b *Backend) Destroy(ctx context.Context, ctid int) error {
	return b.change(ctx, hoststate.DestroyVerb(ctid))
}

// pushSource stands for the host file pct push would read.
const pushSource = "<content>"

func (b *Backend) Push(ctx context.Context, ctid int, dest string, content []byte, opts engine.PushOptions) error {
	return b.change(ctx, hoststate.Verb{Op: "push", CTID: ctid, Argv: engine.PushArgv(ctid, pushSource, dest, opts), Apply: func(h *hoststate.Host) error {
		if err := h.CanPush(ctid); err != nil {
			return err
		}
		return b.inside.Of(ctid).WriteFile(dest, content, 0o644)
	}})
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
		execArgv := engine.ExecArgv(ctid, argv, nil)
		if len(opts.Env) > 0 {
			// As the pct backend sends it: the env file's push, then the
			// wrapped exec (which removes the file again).
			calls, err := pve.EnvExecCalls(ctid, pve.EnvFilePlaceholder, argv, opts.Env)
			if err != nil {
				return engine.ExecResult{}, fmt.Errorf("dry-run: exec in container %d: %w", ctid, err)
			}
			push := hoststate.Verb{Op: "push", CTID: ctid, Argv: calls.PushArgv(ctid, pushSource),
				Apply: func(h *hoststate.Host) error { return h.CanPush(ctid) }}
			if err := b.change(ctx, push); err != nil {
				return engine.ExecResult{}, err
			}
			execArgv = calls.Exec
		}
		err := b.change(ctx, hoststate.Verb{Op: "exec", CTID: ctid, Argv: execArgv, Apply: func(h *hoststate.Host) error {
			if err := h.CanExec(ctid); err != nil {
				return err
			}
			// The plan assumes its commands succeed: what they need is there.
			_, _ = hostsim.Exec(b.layered(ctid, true), hostsim.GPUs(h.CTs[ctid].Config), hostsim.StripEnv(argv), nil)
			return nil
		}})
		return engine.ExecResult{}, err
	}
	c, touched := b.planned(ctid)
	switch {
	case !touched && b.reads != nil:
		return b.reads.Exec(ctx, ctid, argv, opts)
	case c == nil:
		return engine.ExecResult{}, fmt.Errorf("dry-run: exec in container %d: %w", ctid, engine.ErrNotExist)
	}
	b.mu.Lock()
	l := b.layered(ctid, false)
	l.files = l.files.Clone() // a probe changes nothing
	b.mu.Unlock()
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		if probes, ok := pve.ProbesOf(argv[2]); ok {
			return b.probeBatch(ctx, ctid, l, hostsim.GPUs(c.Config), probes)
		}
	}
	var stdin io.Reader
	if opts.Stdin != nil {
		stdin = bytes.NewReader(opts.Stdin)
	}
	res, err := hostsim.Exec(l, hostsim.GPUs(c.Config), hostsim.StripEnv(argv), stdin)
	if errors.Is(err, hostsim.ErrUnknown) {
		return b.askHost(ctx, ctid, l.base, argv, opts), ctx.Err()
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
	files  *hostsim.MapFS
	base   int // 0: none
	assume bool
}

// layered is ctid's files over its base. The caller holds b.mu.
func (b *Backend) layered(ctid int, assume bool) layered {
	return layered{files: b.inside.Of(ctid), base: b.base[ctid], assume: assume}
}

func (l layered) miss(p string) error {
	if l.base != 0 {
		return hostsim.ErrUnknown
	}
	return &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
}

func (l layered) ReadFile(p string) ([]byte, error) {
	data, err := l.files.ReadFile(p)
	switch {
	case err == nil:
		return data, nil
	case l.assume:
		return nil, nil
	}
	return nil, l.miss(p)
}

func (l layered) Stat(p string) (bool, int64, error) {
	isDir, size, err := l.files.Stat(p)
	switch {
	case err == nil:
		return isDir, size, nil
	case l.assume && l.base != 0:
		// What a planned command needs on the host (docker for docker
		// run) is taken to be there, and stays so for later probes.
		_ = l.files.WriteFile(p, nil, 0o755)
		return false, 0, nil
	}
	return false, 0, l.miss(p)
}

func (l layered) WriteFile(p string, data []byte, perm fs.FileMode) error {
	return l.files.WriteFile(p, data, perm)
}

func (l layered) Mkdir(p string, _ bool) error { return l.files.Mkdir(p, true) }
