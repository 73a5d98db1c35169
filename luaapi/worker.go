package luaapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// A hook can run in a re-executed worker process (the phoenix binary,
// dispatching on WorkerEnv) whose address space is limited: whatever the
// hook allocates, only the worker can run out of memory. The worker asks
// the parent to perform every backend call, so dry-run, origins and the
// run's sinks work as in-process. Messages are JSON lines: the parent
// writes the init message and replies on the worker's stdin, the worker
// writes calls, events, secrets, its current line and its result on
// stdout.

// WorkerEnv is set in a worker's environment; main must call WorkerMain
// when it is present: `if luaapi.IsWorker() { os.Exit(luaapi.WorkerMain()) }`.
const WorkerEnv = "PHOENIX_LUA_WORKER"

// DefaultWorkerMemory is how much address space a worker may add to what
// the Go runtime reserved at start, when Limits.WorkerMemory is zero.
const DefaultWorkerMemory = 2 << 30

// defaultWorkerGrace is how long a worker has to report after its
// deadline or an interrupt (Limits.WorkerGrace) before it is killed.
const defaultWorkerGrace = 2 * time.Second

func workerGrace(l Limits) time.Duration {
	if l.WorkerGrace > 0 {
		return l.WorkerGrace
	}
	return defaultWorkerGrace
}

// IsWorker reports whether this process is a hook worker.
func IsWorker() bool { return os.Getenv(WorkerEnv) == "1" }

type workerKey struct{}

// WithWorker returns ctx telling the hooks package to run Lua hooks in
// workers re-executed from exe (normally os.Executable()).
func WithWorker(ctx context.Context, exe string) context.Context {
	return context.WithValue(ctx, workerKey{}, exe)
}

// WorkerFrom returns the executable set by WithWorker, or "".
func WorkerFrom(ctx context.Context) string {
	s, _ := ctx.Value(workerKey{}).(string)
	return s
}

type wireConfig struct {
	Hypervisor map[string]any         `json:"hypervisor,omitempty"`
	LXC        map[string]any         `json:"lxc,omitempty"`
	Containers map[int]map[string]any `json:"containers,omitempty"`
}

type wireInit struct {
	CTID     int         `json:"ctid"`
	Path     string      `json:"path"`
	Source   []byte      `json:"source"`
	Config   *wireConfig `json:"config,omitempty"`
	DryRun   bool        `json:"dry_run"`
	Version  string      `json:"version"`
	Limits   Limits      `json:"limits"`
	BaseDir  string      `json:"base_dir"`
	Deadline time.Time   `json:"deadline"`
	// Stage labels the hook's own events (log lines): a feature hook's
	// are "features", not the default "hook".
	Stage string `json:"stage,omitempty"`
	// SameConfig: the configuration is the one of the worker's previous
	// hook (Config is then not sent again).
	SameConfig bool `json:"same_config,omitempty"`
}

// Strings a hook hands to the container, and what comes back, travel as
// []byte: JSON would turn bytes that are not UTF-8 into U+FFFD.
type wireCall struct {
	Method  string             `json:"method"` // exec, push, snapshot, status
	Origin  engine.Origin      `json:"origin"`
	Argv    [][]byte           `json:"argv,omitempty"`
	Stdin   []byte             `json:"stdin,omitempty"`
	Env     map[string][]byte  `json:"env,omitempty"`
	Timeout time.Duration      `json:"timeout,omitempty"`
	Dest    []byte             `json:"dest,omitempty"`
	Content []byte             `json:"content,omitempty"`
	Push    engine.PushOptions `json:"push"`
	Name    string             `json:"name,omitempty"`
}

type wireResult struct {
	Code           int
	Stdout, Stderr []byte
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func fromBytes(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func envToBytes(env map[string]string) map[string][]byte {
	if env == nil {
		return nil
	}
	out := make(map[string][]byte, len(env))
	for k, v := range env {
		out[k] = []byte(v)
	}
	return out
}

func envFromBytes(env map[string][]byte) map[string]string {
	if env == nil {
		return nil
	}
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = string(v)
	}
	return out
}

type wireHookError struct {
	File, Message, Traceback string
	Line                     int
}

// toWorker is what the parent sends: the init message first, then replies.
type toWorker struct {
	Init *wireInit `json:"init,omitempty"`

	ID       int64          `json:"id,omitempty"`
	Result   *wireResult    `json:"result,omitempty"`
	Status   *engine.Status `json:"status,omitempty"`
	Error    string         `json:"error,omitempty"`
	NotExist bool           `json:"not_exist,omitempty"`
}

// fromWorker is what the worker sends.
type fromWorker struct {
	ID     int64          `json:"id,omitempty"`
	Call   *wireCall      `json:"call,omitempty"`
	Event  *engine.Event  `json:"event,omitempty"`
	Secret []byte         `json:"secret,omitempty"` // bytes: a secret need not be UTF-8
	Line   int            `json:"line,omitempty"`
	Done   bool           `json:"done,omitempty"`
	Err    *wireHookError `json:"err,omitempty"`
}

// RunIsolated runs the hook like Run, in a worker process re-executed from
// exe (reused from a pool: see pool.go). If the worker dies (out of
// memory, killed), the hook fails with the last line it was known to run.
func RunIsolated(ctx context.Context, o Options, exe string) error {
	if o.Backend == nil {
		return errors.New("lua worker: no backend given")
	}
	lim := o.Limits.withDefaults()
	if lim.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lim.Timeout)
		defer cancel()
	}
	w, err := workers.get(exe, workerMemory(lim))
	if err != nil {
		return err
	}
	err, answered := runOn(ctx, w, o, lim)
	if !answered && w.used && ctx.Err() == nil {
		// A pooled worker that died while idle: once more on a new one.
		if w, err = startWorker(exe, workerMemory(lim)); err != nil {
			return err
		}
		err, _ = runOn(ctx, w, o, lim)
	}
	return err
}

// runOn runs one hook on worker w, then gives w back to the pool or kills
// it. answered is false when the worker sent nothing at all.
func runOn(ctx context.Context, w *workerProc, o Options, lim Limits) (err error, answered bool) {
	init := &wireInit{CTID: o.CTID, Path: o.Path, Source: o.Source, DryRun: o.DryRun, Version: o.Version,
		Limits: o.Limits, BaseDir: o.BaseDir, Stage: o.Stage}
	if d, ok := ctx.Deadline(); ok {
		init.Deadline = d
	}
	switch {
	case o.Config != nil && o.Config == w.cfg:
		init.SameConfig = true
	case o.Config != nil:
		wc := &wireConfig{Hypervisor: o.Config.Hypervisor, LXC: o.Config.LXC, Containers: map[int]map[string]any{}}
		for id, c := range o.Config.Containers {
			wc.Containers[id] = c.Raw
		}
		init.Config = wc
	}
	p := &parent{o: o, lim: lim, enc: w.enc}
	// The worker has the same deadline and reports a timeout itself, with
	// its line; it is killed only if it does not within a grace period.
	var (
		killMu sync.Mutex
		kill   *time.Timer
	)
	stop := context.AfterFunc(ctx, func() {
		// Interrupted (Ctrl-C, SIGTERM) rather than timed out: ask the
		// worker to stop now; it reports "interrupted" with its line.
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			_ = w.cmd.Process.Signal(syscall.SIGTERM)
		}
		killMu.Lock()
		defer killMu.Unlock()
		kill = time.AfterFunc(workerGrace(lim), func() { _ = w.cmd.Process.Kill() })
	})
	result := p.serve(ctx, init, w.dec)
	// A worker that stopped its hook at the deadline itself reports a
	// timeout as a clean result; it is still one "after a timeout", so it
	// is not reused, whichever of it and ctx saw the deadline first.
	clean := stop() && p.done && ctx.Err() == nil && !pastDeadline(ctx)
	killMu.Lock()
	if kill != nil {
		kill.Stop()
	}
	killMu.Unlock()
	if clean {
		w.cfg = o.Config
		workers.put(w)
		return result, true
	}
	// Timed out, interrupted, dead or done with the protocol: never reused.
	waitErr := w.kill()
	if p.done {
		return result, true
	}
	// The worker died without a result.
	he := &HookError{File: o.Path, Line: int(p.line.Load())}
	stderr := w.stderr.String()
	switch {
	case ctx.Err() != nil:
		he.Message = timeoutMessage(ctx.Err(), lim.Timeout)
	case strings.Contains(stderr, "out of memory"):
		he.Message = fmt.Sprintf("memory limit exceeded: the hook's worker ran out of memory (limit %d MiB)", workerMemory(lim)>>20)
	default:
		he.Message = fmt.Sprintf("the hook's worker died: %v: %s", waitErr, tail(strings.TrimSpace(stderr), 300))
	}
	return he, p.got
}

func workerMemory(l Limits) uint64 {
	if l.WorkerMemory > 0 {
		return l.WorkerMemory
	}
	return DefaultWorkerMemory
}

// pastDeadline reports whether ctx's deadline has come, even if its timer
// has not fired yet.
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func timeoutMessage(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		if timeout > 0 {
			return fmt.Sprintf("hook timed out after %s: raise --hook-timeout if it needs longer", timeout)
		}
		return "hook timed out: raise --hook-timeout if it needs longer"
	}
	return "interrupted"
}

type parent struct {
	o    Options
	lim  Limits
	enc  *json.Encoder
	mu   sync.Mutex // enc
	line atomic.Int64
	done bool
	got  bool // the worker sent something
}

func (p *parent) send(m toWorker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(m)
}

// serve sends the init message, then answers the worker until it reports
// its result (returned) or its output ends (nil, p.done false).
func (p *parent) serve(ctx context.Context, init *wireInit, dec *json.Decoder) error {
	p.send(toWorker{Init: init})
	for {
		var m fromWorker
		if err := dec.Decode(&m); err != nil {
			return nil
		}
		p.got = true
		if m.Line > 0 {
			p.line.Store(int64(m.Line))
		}
		switch {
		case m.Event != nil:
			if p.o.Events != nil {
				p.o.Events.Emit(*m.Event)
			}
		case len(m.Secret) > 0:
			if p.o.Redact != nil {
				p.o.Redact(string(m.Secret))
			}
		case m.Call != nil:
			p.send(p.handle(ctx, m.ID, m.Call))
		case m.Done:
			p.done = true
			if m.Err == nil {
				return nil
			}
			return &HookError{File: p.o.Path, Line: m.Err.Line, Message: m.Err.Message, Traceback: m.Err.Traceback}
		}
	}
}

// handle performs one backend call for the worker, always on the hook's
// own container: the worker cannot name another one.
func (p *parent) handle(ctx context.Context, id int64, c *wireCall) toWorker {
	ctx = engine.WithOrigin(ctx, engine.Origin{CTID: p.o.CTID, Stage: p.o.stage(), Source: c.Origin.Source})
	r := toWorker{ID: id}
	var err error
	switch c.Method {
	case "exec":
		var res engine.ExecResult
		eo := engine.ExecOptions{Stdin: c.Stdin, Env: envFromBytes(c.Env), Timeout: c.Timeout}
		// The output streams from here: the worker sees it only at the end.
		flush := func() {}
		if p.o.Events != nil {
			eo.Stdout, eo.Stderr, flush = execOutput(p.o.Events, p.o.CTID, p.o.stage(), c.Origin.Source, p.lim.MaxLogLineBytes, func(s string) string { return s })
		}
		res, err = p.o.Backend.Exec(ctx, p.o.CTID, fromBytes(c.Argv), eo)
		flush()
		r.Result = &wireResult{Code: res.Code, Stdout: []byte(res.Stdout), Stderr: []byte(res.Stderr)}
	case "push":
		err = p.o.Backend.Push(ctx, p.o.CTID, string(c.Dest), c.Content, c.Push)
	case "snapshot":
		err = p.o.Backend.Snapshot(ctx, p.o.CTID, c.Name)
	case "status":
		var st engine.Status
		st, err = p.o.Backend.Status(ctx, p.o.CTID)
		r.Status = &st
	default:
		err = fmt.Errorf("unknown call %q", c.Method)
	}
	if err != nil {
		r.Error = err.Error()
		if ctx.Err() != nil {
			// "context canceled" says nothing to a person.
			r.Error = timeoutMessage(ctx.Err(), p.lim.Timeout)
		}
		r.NotExist = errors.Is(err, engine.ErrNotExist)
	}
	return r
}

// ---- the worker side ----------------------------------------------------------

// WorkerMain runs hooks as a worker, one at a time: it reads an init
// message on stdin, limits its own memory (once, for life), runs the hook
// in a fresh sandbox and reports; then waits for the next init message,
// until stdin ends. It returns the process exit code.
func WorkerMain() int {
	watchParent(os.Getppid(), parentWatchEvery, func() { os.Exit(3) })
	dec := json.NewDecoder(bufio.NewReaderSize(os.Stdin, 64<<10))
	w := &workerConn{enc: json.NewEncoder(os.Stdout), dec: dec}
	// SIGINT (Ctrl-C reaches the whole process group) and SIGTERM (from
	// the parent when its run is interrupted) stop the running hook, which
	// then reports "interrupted" at its line instead of dying silently;
	// between hooks they are ignored (the parent ends an idle worker by
	// closing its stdin).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	var cfg *engine.Config
	limited := false
	for n := 0; ; n++ {
		var first toWorker
		if err := dec.Decode(&first); err != nil || first.Init == nil {
			if n > 0 && errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "phoenix lua worker: no init message on stdin")
			return 2
		}
		in := first.Init
		lim := in.Limits.withDefaults()
		debug.SetMemoryLimit(int64(lim.MaxHeapBytes))
		if !limited {
			if err := limitMemory(workerMemory(lim)); err != nil {
				fmt.Fprintln(os.Stderr, "phoenix lua worker:", err)
				return 2
			}
			limited = true
		}
		if !in.SameConfig {
			cfg = configOf(in.Config)
		}
		w.send(runHook(in, cfg, w, sigs))
		// What the hook allocated is garbage now: a large heap is
		// collected before the next hook's ceiling is measured against it
		// (always collecting costs most of a trivial hook's time).
		if heapBytes() > lim.MaxHeapBytes/4 {
			runtime.GC()
		}
	}
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func configOf(wc *wireConfig) *engine.Config {
	if wc == nil {
		return nil
	}
	cfg := &engine.Config{Hypervisor: wc.Hypervisor, LXC: wc.LXC, Containers: map[int]*engine.Container{}}
	for id, raw := range wc.Containers {
		cfg.Containers[id] = &engine.Container{CTID: id, Raw: raw}
	}
	return cfg
}

// runHook runs one hook of the worker and returns its done message.
func runHook(in *wireInit, cfg *engine.Config, w *workerConn, sigs chan os.Signal) fromWorker {
	for len(sigs) > 0 {
		<-sigs // one that came between hooks
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	if !in.Deadline.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, in.Deadline)
		defer stop()
	}
	o := Options{CTID: in.CTID, Path: in.Path, Source: in.Source, DryRun: in.DryRun, Version: in.Version,
		Limits: in.Limits, BaseDir: in.BaseDir, Stage: in.Stage, Backend: &workerBackend{w: w}, Config: cfg,
		Events: engine.SinkFunc(func(e engine.Event) { w.send(fromWorker{Event: &e}) }),
		Redact: func(secret string) { w.send(fromWorker{Secret: []byte(secret)}) },
		onLine: func(line int) { w.send(fromWorker{Line: line}) },
	}
	done := fromWorker{Done: true}
	if err := Run(ctx, o); err != nil {
		he := &HookError{File: in.Path, Message: err.Error()}
		errors.As(err, &he)
		done.Err = &wireHookError{File: he.File, Line: he.Line, Message: he.Message, Traceback: he.Traceback}
	}
	return done
}

// parentWatchEvery is how often a worker checks that phoenix is still there.
const parentWatchEvery = 500 * time.Millisecond

// watchParent calls gone once this process's parent is no longer ppid:
// phoenix was killed or crashed and the worker re-parented. Nobody would
// read an orphaned worker's result, and its hook may have no deadline
// (--hook-timeout 0) or be stuck in a loop.
func watchParent(ppid int, every time.Duration, gone func()) {
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for range t.C {
			if os.Getppid() != ppid {
				gone()
				return
			}
		}
	}()
}

type workerConn struct {
	mu  sync.Mutex
	enc *json.Encoder
	dec *json.Decoder
	id  int64
}

func (w *workerConn) send(m fromWorker) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(m)
}

// call sends a backend call and waits for its answer; calls come one at a
// time from the VM's goroutine.
func (w *workerConn) call(c *wireCall) (toWorker, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.id++
	if err := w.enc.Encode(fromWorker{ID: w.id, Call: c}); err != nil {
		return toWorker{}, fmt.Errorf("lua worker: %w", err)
	}
	var r toWorker
	if err := w.dec.Decode(&r); err != nil {
		return toWorker{}, fmt.Errorf("lua worker: the parent went away: %w", err)
	}
	if r.Error != "" {
		if r.NotExist {
			return r, fmt.Errorf("%s: %w", r.Error, engine.ErrNotExist)
		}
		return r, errors.New(r.Error)
	}
	return r, nil
}

// workerBackend forwards the calls a hook can make to the parent.
type workerBackend struct {
	engine.Backend // nil: the calls hooks cannot make panic, and are never made
	w              *workerConn
}

var _ engine.Backend = (*workerBackend)(nil)

func (b *workerBackend) Name() string { return "worker" }

func (b *workerBackend) Exec(ctx context.Context, ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, error) {
	r, err := b.w.call(&wireCall{Method: "exec", Origin: engine.OriginFrom(ctx), Argv: toBytes(argv), Stdin: o.Stdin, Env: envToBytes(o.Env), Timeout: o.Timeout})
	if err != nil || r.Result == nil {
		return engine.ExecResult{}, err
	}
	return engine.ExecResult{Code: r.Result.Code, Stdout: string(r.Result.Stdout), Stderr: string(r.Result.Stderr)}, nil
}

func (b *workerBackend) Push(ctx context.Context, ctid int, dest string, content []byte, o engine.PushOptions) error {
	_, err := b.w.call(&wireCall{Method: "push", Origin: engine.OriginFrom(ctx), Dest: []byte(dest), Content: content, Push: o})
	return err
}

func (b *workerBackend) Snapshot(ctx context.Context, ctid int, name string) error {
	_, err := b.w.call(&wireCall{Method: "snapshot", Origin: engine.OriginFrom(ctx), Name: name})
	return err
}

func (b *workerBackend) Status(ctx context.Context, ctid int) (engine.Status, error) {
	r, err := b.w.call(&wireCall{Method: "status", Origin: engine.OriginFrom(ctx)})
	if err != nil || r.Status == nil {
		return engine.Status{}, err
	}
	return *r.Status, nil
}
