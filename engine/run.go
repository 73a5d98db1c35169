package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// RunOptions configure a run. The CLI turns flags into these; the engine
// never sees a flag.
type RunOptions struct {
	Config      *Config
	Backend     Backend       // the dry-run backend when DryRun (the CLI builds it)
	Hooks       HookRunner    // nil: NoHooks{}
	DryRun      bool          // the Result says so; nothing else differs
	CTIDs       []int         // empty: every container
	Parallel    int           // <=0: 4
	HookTimeout time.Duration // per hook; a container's HookTimeout overrides
	FailFast    bool
	Force       bool // re-run hooks on converged containers
	// RefreshTemplates re-takes a template snapshot that is older than its
	// container's config or hook (existing clones are left alone).
	RefreshTemplates bool
	Verbose          bool
	LogFile          string        // handed to hooks as MAIN_LOG_FILE
	Events           Sink          // may be nil
	StartTimeout     time.Duration // start+wait bound; <=0: 2m
	// HooksDir is the hooks dir: a health check naming a script in it is
	// a host script.
	HooksDir string
	// Sleep waits between the tries of a health check; nil: a timer (ctx
	// ends it). A dry-run never waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// Strict makes a feature with neither a built-in stage nor a feature
	// hook an error instead of a warning: the run stops before any change.
	Strict bool
	// WithTests runs the integration tests (tests.integration_tests[]) of
	// the requested containers that ended done, after all of them; a plan
	// lists them without running them.
	WithTests bool

	// ProcDevices returns the content of /proc/devices, for the legacy GPU
	// passthrough's nvidia-uvm major; nil reads the real file.
	ProcDevices func() ([]byte, error)
}

// Defaults of RunOptions.
const (
	DefaultParallel     = 4
	DefaultStartTimeout = 2 * time.Minute
)

// runner is one run's shared state.
type runner struct {
	o       RunOptions
	cfg     *Config
	b       Backend // o.Backend, cached and observed
	cache   *hostCache
	hooks   HookRunner
	sink    *collector
	stopped atomic.Bool // fail-fast: no new stage starts

	// cloning holds one token per clone source: Proxmox locks the source
	// of a `pct clone` ("disk") until the copy ends, so a second clone of
	// the same source at once would fail with "CT is locked (disk)".
	cloningMu sync.Mutex
	cloning   map[int]chan struct{}
}

// lockSource waits until no other clone of source runs (or ctx ends) and
// returns the release.
func (r *runner) lockSource(ctx context.Context, source int) (func(), error) {
	r.cloningMu.Lock()
	if r.cloning == nil {
		r.cloning = map[int]chan struct{}{}
	}
	ch := r.cloning[source]
	if ch == nil {
		ch = make(chan struct{}, 1)
		r.cloning[source] = ch
	}
	r.cloningMu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func newRunner(o RunOptions) (*runner, error) {
	if o.Config == nil {
		return nil, errors.New("run: no configuration loaded")
	}
	if o.Backend == nil {
		return nil, errors.New("run: no backend")
	}
	if o.Hooks == nil {
		o.Hooks = NoHooks{}
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.ProcDevices == nil {
		o.ProcDevices = func() ([]byte, error) { return os.ReadFile("/proc/devices") }
	}
	col := &collector{next: o.Events, actions: map[int][]Event{}}
	r := &runner{o: o, cfg: o.Config, hooks: o.Hooks, sink: col}
	r.cache = newHostCache(o.Backend, r.probesFor)
	r.b = Observe(r.cache, col)
	return r, nil
}

// Run provisions the planned containers: independent branches in
// parallel, every container's stages in order. The error is only for what
// stops the run before it starts (a bad plan); container failures are in
// the Result.
func Run(ctx context.Context, o RunOptions) (*Result, error) {
	start := time.Now()
	r, err := newRunner(o)
	if err != nil {
		return nil, err
	}
	plan, err := BuildPlan(o.Config, o.CTIDs)
	if err != nil {
		return nil, err
	}
	if err := checkHooks(r.hooks, r.cfg, plan.Order, r.sink, o.Strict); err != nil {
		return nil, err
	}
	res := &Result{DryRun: o.DryRun}
	res.Containers, res.Notes = r.schedule(ctx, plan)
	if o.WithTests {
		res.Tests = r.integrationTests(ctx, plan, res)
		if len(res.Tests) == 0 {
			res.Notes = append(res.Notes, "--with-tests: no container of this run has tests.integration_tests")
		}
	}
	res.Interrupted = ctx.Err() != nil
	r.attachActions(res)
	res.Elapsed = time.Since(start)
	return res, nil
}

// RunHook runs only the hook stage of one container (`phoenix hook run`),
// with the same marker and events as a full run.
func RunHook(ctx context.Context, o RunOptions, ctid int) (*Result, error) {
	start := time.Now()
	r, err := newRunner(o)
	if err != nil {
		return nil, err
	}
	ct := o.Config.Containers[ctid]
	if ct == nil {
		return nil, fmt.Errorf("hook run: container %d is not in lxc_configs: check the CTID", ctid)
	}
	if err := checkHooks(r.hooks, r.cfg, []int{ctid}, r.sink, o.Strict); err != nil {
		return nil, err
	}
	c := r.newCtRun(ct)
	c.res.State = StageDone
	func() {
		defer func() { c.res.Elapsed = time.Since(c.started) }()
		c.hook = r.hooks.Describe(ct)
		if c.hook.State == HookAmbiguous {
			c.fail("", errors.New(c.hook.Problem))
			return
		}
		sctx := WithOrigin(ctx, Origin{CTID: ctid, Stage: StageHook})
		st, err := r.b.Status(sctx, ctid)
		switch {
		case err != nil:
			c.fail(StageHook, pctError(err, "pct status %d", ctid))
			return
		case !st.Exists:
			c.fail(StageHook, fmt.Errorf("container %d does not exist: run `phoenix run --ctid %d` first", ctid, ctid))
			return
		case !st.Running:
			c.fail(StageHook, fmt.Errorf("container %d is not running: start it (pct start %d) or run `phoenix run --ctid %d`", ctid, ctid, ctid))
			return
		}
		c.runStage(ctx, hookStage)
	}()
	res := &Result{DryRun: o.DryRun, Containers: []*ContainerResult{c.res}, Interrupted: ctx.Err() != nil}
	r.attachActions(res)
	res.Elapsed = time.Since(start)
	return res, nil
}

func (r *runner) attachActions(res *Result) {
	for _, cr := range res.Containers {
		cr.Actions = r.sink.take(cr.CTID)
	}
}

// ctRun is one container's provisioning. It embeds the run, so stages
// read the options as c.o.
type ctRun struct {
	*runner
	ct      *Container
	res     *ContainerResult
	hook    HookInfo
	started time.Time
}

func (r *runner) newCtRun(ct *Container) *ctRun {
	return &ctRun{
		runner:  r,
		ct:      ct,
		res:     &ContainerResult{CTID: ct.CTID, Name: ct.Hostname},
		started: time.Now(),
	}
}

// runContainer provisions one container whose dependencies are done.
func (r *runner) runContainer(ctx context.Context, ct *Container, requested bool) *ContainerResult {
	c := r.newCtRun(ct)
	defer func() { c.res.Elapsed = time.Since(c.started) }()

	if !requested {
		built, err := c.isBuilt(ctx)
		if err != nil {
			c.fail("", err)
			return c.res
		}
		if built {
			c.res.State = StageDone
			c.res.Reason = "built: not requested"
			c.log("INFO", "already built, not requested: left as is")
			return c.res
		}
	}

	c.hook = r.hooks.Describe(ct)
	if c.hook.State == HookAmbiguous {
		c.fail("", errors.New(c.hook.Problem))
		return c.res
	}
	if err := errors.Join(c.checkFeatures(), c.checkHealthScript()); err != nil {
		c.fail("", err)
		return c.res
	}

	for _, s := range stages {
		if !s.Applies(ct) || (s.When != nil && !s.When(c, ctx)) {
			continue
		}
		if ctx.Err() != nil {
			c.interrupt(s.Name(ct))
			return c.res
		}
		if r.stopped.Load() {
			c.res.State = StageSkipped
			c.res.Reason = "fail-fast"
			c.stageEvent(s.Name(ct), StageSkipped, "fail-fast")
			return c.res
		}
		if !c.runStage(ctx, s) {
			return c.res
		}
	}
	c.res.State = StageDone
	c.log("INFO", "done in "+fmtDuration(time.Since(c.started)))
	return c.res
}

// runStage runs one stage and records it; false when it failed.
func (c *ctRun) runStage(ctx context.Context, s Stage) bool {
	name := s.Name(c.ct)
	c.stageEvent(name, StageRunning, "")
	t0 := time.Now()
	out, err := s.Run(c, WithOrigin(ctx, Origin{CTID: c.ct.CTID, Stage: name}))
	sr := StageResult{Stage: name, State: out.state, Detail: out.detail, Elapsed: time.Since(t0)}
	if err != nil {
		err = withHint(err, c.ct.CTID)
		sr.State, sr.Err, sr.Detail = StageFailed, err, err.Error()
		if ctx.Err() != nil {
			sr.Detail = "interrupted"
			c.res.Reason = "interrupted"
		}
		c.res.Stages = append(c.res.Stages, sr)
		c.res.State = StageFailed
		c.res.Err = fmt.Errorf("%s: %w", name, err)
		c.failFast(ctx)
		// The failed stage's event is the failure's one line in the
		// progress (and an ERROR line of the run log); the summary says
		// it again, once.
		c.stageEvent(name, StageFailed, sr.Detail)
		return false
	}
	c.res.Stages = append(c.res.Stages, sr)
	c.stageEvent(name, sr.State, sr.Detail)
	return true
}

// withHint adds what to do next to backend errors whose fix is known.
// ctid is the container that is locked (a clone's is its source).
func withHint(err error, ctid int) error {
	var locked *pve.ErrLocked
	if errors.As(err, &locked) && !strings.Contains(err.Error(), "pct unlock") {
		return fmt.Errorf("%w: wait for the task holding the lock to finish, or run `pct unlock %d` if the lock is stale", err, ctid)
	}
	return err
}

// failFast stops the run under fail-fast as soon as a container fails
// (not when the scheduler reads its result): containers running now start
// no new stage, and the failure's event is emitted after the stop.
func (c *ctRun) failFast(ctx context.Context) {
	if c.o.FailFast && ctx.Err() == nil {
		c.stopped.Store(true)
	}
}

// fail marks the container failed before or outside a stage.
func (c *ctRun) fail(stage string, err error) {
	c.res.State = StageFailed
	c.res.Err = err
	if stage != "" {
		c.res.Stages = append(c.res.Stages, StageResult{Stage: stage, State: StageFailed, Detail: err.Error(), Err: err})
		c.stageEvent(stage, StageFailed, err.Error())
		return
	}
	c.log("ERROR", err.Error())
}

func (c *ctRun) interrupt(stage string) {
	c.res.State = StageSkipped
	c.res.Reason = "interrupted"
	c.stageEvent(stage, StageSkipped, "interrupted")
}

// isBuilt reports whether a container that was not asked for can be left
// alone: it exists, and has its template snapshot when it has one.
func (c *ctRun) isBuilt(ctx context.Context) (bool, error) {
	ctid := c.ct.CTID
	ctx = WithOrigin(ctx, Origin{CTID: ctid, Stage: "check"})
	st, err := c.b.Status(ctx, ctid)
	if err != nil {
		return false, pctError(err, "pct status %d", ctid)
	}
	if !st.Exists {
		return false, nil
	}
	if !isTemplate(c.ct) {
		return true, nil
	}
	snaps, err := c.b.ListSnapshots(ctx, ctid)
	if err != nil {
		return false, pctError(err, "pct listsnapshot %d", ctid)
	}
	for _, s := range snaps {
		if s == templateSnapshot(c.ct) {
			return true, nil
		}
	}
	return false, nil
}

// --- helpers the stages share ------------------------------------------------

func (c *ctRun) stageEvent(stage, state, detail string) {
	c.sink.Emit(Event{Time: time.Now(), Kind: EventStage, CTID: c.ct.CTID, Stage: stage, State: state, Message: detail})
}

func (c *ctRun) log(level, msg string) {
	c.sink.Emit(Event{Time: time.Now(), Kind: EventLog, CTID: c.ct.CTID, Level: level, Message: msg})
}

// probe runs a read-only check in the container.
func (c *ctRun) probe(ctx context.Context, argv ...string) (ExecResult, error) {
	r, err := c.b.Exec(ctx, c.ct.CTID, argv, ExecOptions{Probe: true})
	if err != nil {
		return r, fmt.Errorf("pct exec %d -- %s: %w", c.ct.CTID, strings.Join(argv, " "), err)
	}
	return r, nil
}

// script runs a shell script in the container, its output streamed as
// events; a non-zero exit is an error with the end of stderr.
func (c *ctRun) script(ctx context.Context, script string) error {
	first, _, _ := strings.Cut(script, "\n")
	r, err := c.exec(ctx, []string{"sh", "-c", script})
	if err != nil {
		return fmt.Errorf("pct exec %d -- sh -c %q: %w", c.ct.CTID, first, err)
	}
	if r.Code != 0 {
		return fmt.Errorf("exit %d: %s", r.Code, tail(r.Stderr))
	}
	return nil
}

// exec runs a built-in stage's command (not a probe), streaming its output
// into the events line by line as it comes.
func (c *ctRun) exec(ctx context.Context, argv []string) (ExecResult, error) {
	stage := OriginFrom(ctx).Stage
	out := &LineWriter{Emit: c.outputLine(stage, "INFO")}
	errw := &LineWriter{Emit: c.outputLine(stage, "INFO")}
	defer out.Flush()
	defer errw.Flush()
	return c.b.Exec(ctx, c.ct.CTID, argv, ExecOptions{Stdout: out, Stderr: errw})
}

// execStreamed runs a script of the hooks dir (a feature hook, the
// application script) or a health check in the container as a shell hook
// runs: each line it prints is an output event of the stage as it comes
// (stderr at WARN), and last is its last lines in the order they came,
// for the failure message.
func (c *ctRun) execStreamed(ctx context.Context, argv []string, opts ExecOptions) (r ExecResult, last string, err error) {
	stage := OriginFrom(ctx).Stage
	var mu sync.Mutex
	var lines []string
	line := func(level string) *LineWriter {
		emit := c.outputLine(stage, level)
		return &LineWriter{Emit: func(l string) {
			mu.Lock()
			lines = append(lines, l)
			if len(lines) > tailLines {
				lines = lines[1:]
			}
			mu.Unlock()
			emit(l)
		}}
	}
	out, errw := line("INFO"), line("WARN")
	opts.Stdout, opts.Stderr = out, errw
	r, err = c.b.Exec(ctx, c.ct.CTID, argv, opts)
	out.Flush()
	errw.Flush()
	if len(lines) == 0 {
		// A backend that does not stream still captured the output.
		return r, tail(strings.TrimRight(r.Stdout, "\n") + "\n" + r.Stderr), err
	}
	return r, strings.Join(lines, " | "), err
}

func (c *ctRun) outputLine(stage, level string) func(string) {
	return func(line string) {
		c.sink.Emit(Event{Time: time.Now(), Kind: EventOutput, CTID: c.ct.CTID, Stage: stage, Level: level, Message: line})
	}
}

// tailLines is how many last lines of a command's output its failure
// message quotes.
const tailLines = 5

// tail is the last lines of a command's stderr, for an error message.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "no error output"
	}
	lines := strings.Split(s, "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return strings.Join(lines, " | ")
}

// LineWriter turns written bytes into whole lines; Flush emits what is
// left after the last newline.
type LineWriter struct {
	mu   sync.Mutex
	buf  []byte
	Emit func(string)
}

func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.Emit(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush emits a last line that had no newline.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.Emit(strings.TrimRight(string(w.buf), "\r"))
		w.buf = nil
	}
}

// ctSink stamps a container's CTID on the events a hook emits without one.
type ctSink struct {
	ctid int
	next Sink
}

func (s ctSink) Emit(e Event) {
	if e.CTID == 0 {
		e.CTID = s.ctid
	}
	s.next.Emit(e)
}

// collector forwards events to the run's sink and keeps each container's
// actions for its ContainerResult.
type collector struct {
	next    Sink
	mu      sync.Mutex
	actions map[int][]Event
}

func (s *collector) Emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Kind == EventAction {
		s.mu.Lock()
		s.actions[e.CTID] = append(s.actions[e.CTID], e)
		s.mu.Unlock()
	}
	if s.next != nil {
		s.next.Emit(e)
	}
}

func (s *collector) take(ctid int) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.actions[ctid]
	delete(s.actions, ctid)
	return a
}
