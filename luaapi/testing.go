package luaapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
	"github.com/phoenix-hypervisor/phoenix/luaapi/internal/pm"
)

// TestFile is one *_test.lua file for `phoenix hook test`. The test file
// runs in a sandbox of its own with one more global, test(name, fn); each
// case's t.run loads a hook in a fresh sandbox against a fake container.
// The API is documented in phoenix.d.lua (PhoenixTest, PhoenixTestRun).
type TestFile struct {
	Path   string
	Source []byte
	// Hook is the hook a case runs when it does not name one.
	Hook string
	// Config is the base configuration hooks see; a case may replace its
	// parts. nil: an empty configuration.
	Config *engine.Config
	// NewBackend gives a case the container its hook runs against; nil: an
	// in-process fake. cleanup is called after the case.
	NewBackend func(ctx context.Context, ctid int) (b engine.Backend, cleanup func(), err error)
	// Backend names what NewBackend gives ("lxc"), for t.backend; "": "fake".
	Backend string
	// Timeout bounds each case (its hook runs included); 0: 60s.
	Timeout time.Duration
	Version string
}

// TestCase is the outcome of one test(name, fn) of a file.
type TestCase struct {
	Name     string
	Err      error // nil: passed
	Duration time.Duration
	// Output holds the hooks' log lines, shown for failed cases.
	Output []string
}

// RunTestFile runs every case of a test file in declaration order. The
// error is for the file itself (a syntax error, an error outside any case,
// no case at all); it comes with the cases run so far.
func RunTestFile(ctx context.Context, tf TestFile) ([]TestCase, error) {
	if tf.Timeout <= 0 {
		tf.Timeout = 60 * time.Second
	}
	h := &harness{tf: tf}
	o := Options{Path: tf.Path, Source: tf.Source, Backend: memhost.New(), Version: tf.Version,
		Limits: Limits{Timeout: tf.Timeout}}
	s, cancel, err := newSandbox(ctx, o)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer s.close()
	h.s = s
	s.L.SetGlobal("test", s.L.NewFunction(h.declare))
	if err := s.run(); err != nil {
		return nil, err
	}
	if len(h.cases) == 0 {
		return nil, &HookError{File: tf.Path, Message: "no test cases: declare them with test(name, function(t) ... end)"}
	}
	var out []TestCase
	for _, c := range h.cases {
		out = append(out, h.runCase(ctx, c))
	}
	return out, nil
}

type declared struct {
	name string
	fn   *lua.LFunction
}

type harness struct {
	tf    TestFile
	s     *sandbox
	cases []declared

	// per case
	ctx      context.Context
	output   []string
	last     *lua.LTable  // the last t.run result
	calls    []callRecord // its calls, for t.called
	cleanups []func()
}

func (h *harness) declare(L *lua.LState) int {
	name := L.CheckString(1)
	fn := L.CheckFunction(2)
	for _, c := range h.cases {
		if c.name == name {
			L.ArgError(1, fmt.Sprintf("test %q is declared twice", name))
		}
	}
	h.cases = append(h.cases, declared{name: name, fn: fn})
	return 0
}

func (h *harness) runCase(ctx context.Context, c declared) TestCase {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, h.tf.Timeout)
	defer cancel()
	h.ctx, h.output, h.last, h.calls = ctx, nil, nil, nil
	defer func() {
		for i := len(h.cleanups) - 1; i >= 0; i-- {
			h.cleanups[i]()
		}
		h.cleanups = nil
	}()
	s := h.s
	// A fresh guard (and deadline) for every case.
	s.guard.stop()
	s.ctx = ctx
	s.guard = newGuard(ctx, s.L, s.lim)
	s.L.SetContext(s.guard)
	methods := h.methods()
	t := s.L.CreateTable(0, len(methods))
	for _, name := range testMethods {
		t.RawSetString(name, s.L.NewFunction(methods[name]))
	}
	t.RawSetString("backend", lua.LString(h.backendName()))
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error: %v", r)
			}
		}()
		s.L.Push(c.fn)
		s.L.Push(t)
		err = s.L.PCall(1, 0, nil)
	}()
	if err != nil {
		err = s.hookError(err)
	}
	return TestCase{Name: c.name, Err: err, Duration: time.Since(start), Output: h.output}
}

// backendName is what t.backend says: "fake" or "lxc".
func (h *harness) backendName() string {
	if h.tf.NewBackend == nil || h.tf.Backend == "" {
		return "fake"
	}
	return h.tf.Backend
}

// testMethods are the fields of the t a case receives, in a stable order.
var testMethods = []string{"run", "ok", "eq", "match", "called", "not_called", "fail"}

func (h *harness) methods() map[string]lua.LGFunction {
	return map[string]lua.LGFunction{
		"run": h.run, "ok": h.ok, "eq": h.eq, "match": h.match,
		"called": h.called, "not_called": h.notCalled, "fail": h.fail,
	}
}

// ---- assertions ----------------------------------------------------------

func (h *harness) failf(L *lua.LState, format string, args ...any) {
	L.RaiseError("%s", fmt.Sprintf(format, args...))
}

func message(L *lua.LState, n int) string {
	if s, ok := L.Get(n).(lua.LString); ok {
		return ": " + string(s)
	}
	return ""
}

func (h *harness) ok(L *lua.LState) int {
	if !lua.LVAsBool(L.Get(1)) {
		h.failf(L, "expected a true value, got %s%s", show(L.Get(1)), message(L, 2))
	}
	return 0
}

func (h *harness) eq(L *lua.LState) int {
	got, want := h.s.toGo(L.Get(1), 0), h.s.toGo(L.Get(2), 0)
	if !reflect.DeepEqual(got, want) {
		h.failf(L, "got %s, want %s%s", showGo(got), showGo(want), message(L, 3))
	}
	return 0
}

func (h *harness) match(L *lua.LState) int {
	str, ok := L.Get(1).(lua.LString)
	pattern := L.CheckString(2)
	if !ok {
		h.failf(L, "expected a string matching %q, got %s%s", pattern, show(L.Get(1)), message(L, 3))
	}
	mds, err := pm.Find(pattern, []byte(str), 0, 1, h.s.budget())
	if err != nil {
		L.ArgError(2, err.Error())
	}
	if len(mds) == 0 {
		h.failf(L, "%q does not match %q%s", truncate(string(str), 300), pattern, message(L, 3))
	}
	return 0
}

func (h *harness) fail(L *lua.LState) int {
	h.failf(L, "%s", L.OptString(1, "failed"))
	return 0
}

// calls matching pattern among the last run's calls (exec: the command;
// others: the pct argv).
func (h *harness) matching(L *lua.LState, pattern string) []callRecord {
	if h.last == nil {
		L.RaiseError("no hook has run yet: call t.run first")
	}
	var out []callRecord
	for _, c := range h.calls {
		mds, err := pm.Find(pattern, []byte(c.Cmd), 0, 1, h.s.budget())
		if err != nil {
			L.ArgError(1, err.Error())
		}
		if len(mds) > 0 {
			out = append(out, c)
		}
	}
	return out
}

func (h *harness) called(L *lua.LState) int {
	pattern := L.CheckString(1)
	m := h.matching(L, pattern)
	if len(m) == 0 {
		h.failf(L, "no call matches %q; calls were:%s%s", pattern, h.listCalls(), message(L, 2))
	}
	L.Push(h.s.plain(m[0]))
	return 1
}

func (h *harness) notCalled(L *lua.LState) int {
	pattern := L.CheckString(1)
	if m := h.matching(L, pattern); len(m) > 0 {
		h.failf(L, "%d call(s) match %q, e.g. %q (line %d)%s", len(m), pattern, m[0].Cmd, m[0].Line, message(L, 2))
	}
	return 0
}

func (h *harness) listCalls() string {
	if len(h.calls) == 0 {
		return " none"
	}
	var b strings.Builder
	for i, c := range h.calls {
		if i == 20 {
			break
		}
		fmt.Fprintf(&b, "\n\t%s %s", c.Op, c.Cmd)
	}
	return b.String()
}

func show(v lua.LValue) string {
	if s, ok := v.(lua.LString); ok {
		return strconv.Quote(truncate(string(s), 300))
	}
	return describe(v)
}

func showGo(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(truncate(x, 300))
	case nil:
		return "nil"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = showGo(e)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " = " + showGo(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(x)
	}
}

// ---- t.run -----------------------------------------------------------------

type execRule struct {
	pattern        string
	code           int
	stdout, stderr string
	times          int // 0: unlimited
	used           int
}

// scripted answers Exec from the case's rules first, records every call
// with its origin, and passes the rest to the container's backend.
type scripted struct {
	engine.Backend
	mu    sync.Mutex
	rules []*execRule
	calls []recorded
	// dirs are the directories of the fake container, so that pct_push
	// into one that does not exist fails as pct's does; nil: a real
	// container, which answers for itself.
	dirs map[string]bool
}

// baseDirs are the directories of a fresh Debian container.
var baseDirs = []string{"/", "/bin", "/boot", "/dev", "/etc", "/etc/apt", "/etc/apt/sources.list.d", "/etc/cron.d",
	"/etc/default", "/etc/profile.d", "/etc/ssh", "/etc/sudoers.d", "/etc/systemd", "/etc/systemd/system", "/home",
	"/lib", "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin",
	"/usr/lib", "/usr/local", "/usr/local/bin", "/usr/local/etc", "/usr/local/lib", "/usr/local/sbin", "/usr/local/share",
	"/usr/sbin", "/usr/share", "/var", "/var/cache", "/var/lib", "/var/log", "/var/tmp"}

// addDir records dir and its parents.
func (b *scripted) addDir(dir string) {
	for d := path.Clean(dir); ; d = path.Dir(d) {
		b.dirs[d] = true
		if d == "/" || d == "." {
			return
		}
	}
}

var shellMkdir = regexpMust(`(?:^|[;&|(\s])(?:mkdir|install\s+-d)((?:\s+[^\s;&|)]+)+)`)

// learnDirs adds the directories a successful command made: mkdir or
// install -d, as argv or in a shell command.
func (b *scripted) learnDirs(argv []string) {
	var args []string
	switch {
	case len(argv) > 0 && (path.Base(argv[0]) == "mkdir" || path.Base(argv[0]) == "install" && slices.Contains(argv, "-d")):
		args = argv[1:]
	case len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c":
		for _, m := range shellMkdir.FindAllStringSubmatch(argv[2], -1) {
			args = append(args, strings.Fields(m[1])...)
		}
	}
	for _, a := range args {
		if strings.HasPrefix(a, "/") {
			b.addDir(a)
		}
	}
}

type recorded struct {
	op     string
	argv   []string // pct argv
	cmd    string   // exec: the command inside the container; others: the pct argv
	env    map[string]string
	source string
}

func (b *scripted) record(ctx context.Context, op string, argv []string, cmd string, env map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, recorded{op: op, argv: argv, cmd: cmd, env: env, source: engine.OriginFrom(ctx).Source})
}

func (b *scripted) Exec(ctx context.Context, ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, error) {
	cmd := strings.Join(argv, " ")
	b.record(ctx, "exec", engine.ExecArgv(ctid, argv, o.Env), cmd, o.Env)
	b.mu.Lock()
	for _, r := range b.rules {
		if r.times > 0 && r.used >= r.times {
			continue
		}
		mds, err := pm.Find(r.pattern, []byte(cmd), 0, 1, &pm.Budget{Steps: 1_000_000})
		if err == nil && len(mds) > 0 {
			r.used++
			b.mu.Unlock()
			// Still ask the backend, so a missing or stopped container
			// fails as it would for real.
			st, err := b.Backend.Status(ctx, ctid)
			if err != nil {
				return engine.ExecResult{}, err
			}
			if !st.Running {
				return engine.ExecResult{}, pve.Refuse(pve.MsgExecNotRunning(ctid))
			}
			return engine.ExecResult{Code: r.code, Stdout: r.stdout, Stderr: r.stderr}, nil
		}
	}
	b.mu.Unlock()
	res, err := b.Backend.Exec(ctx, ctid, argv, o)
	if err == nil && res.Code == 0 && b.dirs != nil {
		b.mu.Lock()
		b.learnDirs(argv)
		b.mu.Unlock()
	}
	return res, err
}

func (b *scripted) Push(ctx context.Context, ctid int, dest string, content []byte, o engine.PushOptions) error {
	argv := engine.PushArgv(ctid, "<content>", dest, o)
	b.record(ctx, "push", argv, strings.Join(argv, " "), nil)
	b.mu.Lock()
	missing := b.dirs != nil && !b.dirs[path.Dir(dest)]
	b.mu.Unlock()
	if missing {
		if st, err := b.Backend.Status(ctx, ctid); err != nil || !st.Running {
			return b.Backend.Push(ctx, ctid, dest, content, o) // fails as pct does
		}
		return fmt.Errorf("pct push %d: %s: No such file or directory: the directory %s does not exist in the container (pct push does not create it: pct_exec({\"mkdir\", \"-p\", %q}) first)",
			ctid, dest, path.Dir(dest), path.Dir(dest))
	}
	return b.Backend.Push(ctx, ctid, dest, content, o)
}

func (b *scripted) Snapshot(ctx context.Context, ctid int, name string) error {
	argv := engine.SnapshotArgv(ctid, name)
	b.record(ctx, "snapshot", argv, strings.Join(argv, " "), nil)
	return b.Backend.Snapshot(ctx, ctid, name)
}

func (b *scripted) Status(ctx context.Context, ctid int) (engine.Status, error) {
	argv := engine.StatusArgv(ctid)
	b.record(ctx, "status", argv, strings.Join(argv, " "), nil)
	return b.Backend.Status(ctx, ctid)
}

type runSpec struct {
	hook    string
	ctid    int
	dryRun  bool
	status  string
	files   map[string]string
	dirs    []string
	secrets map[string]string
	rules   []*execRule
	cfg     *engine.Config
}

func (h *harness) run(L *lua.LState) int {
	spec := h.runSpec(L)
	src, err := os.ReadFile(spec.hook)
	if err != nil {
		L.RaiseError("t.run: %v", err)
	}
	backend, err := h.backend(spec)
	if err != nil {
		L.RaiseError("t.run: %v", err)
	}
	if spec.dryRun && h.tf.NewBackend != nil {
		// As in a plan: calls are recorded, none reaches the real container.
		backend = dryrun.New(backend)
	}
	sb := &scripted{Backend: backend, rules: spec.rules}
	if h.tf.NewBackend == nil {
		sb.dirs = map[string]bool{}
		for _, d := range baseDirs {
			sb.dirs[d] = true
		}
		for f := range spec.files {
			sb.addDir(path.Dir(f))
		}
		for _, d := range spec.dirs {
			sb.addDir(d)
		}
	}
	var mu sync.Mutex
	var logs []engine.Event
	sink := engine.SinkFunc(func(e engine.Event) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, e)
	})
	o := Options{CTID: spec.ctid, Path: spec.hook, Source: src, Config: spec.cfg, Backend: sb, DryRun: spec.dryRun,
		Version: h.tf.Version, Events: sink, Limits: Limits{Timeout: h.tf.Timeout}, BaseDir: filepath.Dir(h.tf.Path),
		ReadSecret: func(path, file string) (string, error) {
			if v, ok := spec.secrets[path]; ok {
				return v, nil
			}
			return "", fmt.Errorf("the test gives no secret for %q: add it to t.run{secrets = {...}}", path)
		}}
	var slept time.Duration
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		slept += d // virtual time: tests of bounded waits run at once
		return ctx.Err()
	}
	runErr := Run(h.ctx, o)
	res := L.NewTable()
	res.RawSetString("ok", lua.LBool(runErr == nil))
	res.RawSetString("slept", lua.LNumber(slept.Seconds()))
	if runErr != nil {
		res.RawSetString("error", lua.LString(runErr.Error()))
		var he *HookError
		if errors.As(runErr, &he) {
			res.RawSetString("message", lua.LString(he.Message))
			res.RawSetString("line", lua.LNumber(he.Line))
		}
	}
	// r.calls is a list (ipairs and # see it) of read-only records.
	calls := L.NewTable()
	h.calls = nil
	for _, c := range sb.calls {
		cr := callRecord{Op: c.op, Cmd: c.cmd, Argv: c.argv, Line: sourceLine(c.source)}
		if len(c.env) > 0 {
			cr.Env = c.env
		}
		h.calls = append(h.calls, cr)
		calls.Append(h.s.plain(cr))
	}
	res.RawSetString("calls", calls)
	// logs: log.* and print lines; output: the lines pct_exec's commands
	// printed, as they streamed.
	lt, ot := L.NewTable(), L.NewTable()
	for _, e := range logs {
		line := fmt.Sprintf("%s [%s] %s", e.Source, e.Level, e.Message)
		if e.Kind == engine.EventOutput {
			line = fmt.Sprintf("%s | %s", e.Source, e.Message)
		}
		h.output = append(h.output, line)
		et := L.NewTable()
		et.RawSetString("level", lua.LString(e.Level))
		et.RawSetString("message", lua.LString(e.Message))
		et.RawSetString("line", lua.LNumber(sourceLine(e.Source)))
		if e.Kind == engine.EventOutput {
			ot.Append(et)
		} else {
			lt.Append(et)
		}
	}
	if runErr != nil {
		h.output = append(h.output, "hook failed: "+runErr.Error())
	}
	res.RawSetString("logs", lt)
	res.RawSetString("output", ot)
	if fb, ok := backend.(*memhost.Backend); ok {
		if c := fb.Get(spec.ctid); c != nil {
			files := L.NewTable()
			for k, v := range c.Files {
				files.RawSetString(k, lua.LString(v))
			}
			res.RawSetString("files", files)
			snaps := L.NewTable()
			for _, n := range c.Snapshots {
				snaps.Append(lua.LString(n))
			}
			res.RawSetString("snapshots", snaps)
		}
	}
	h.last = res
	L.Push(res)
	return 1
}

func sourceLine(src string) int {
	if i := strings.LastIndexByte(src, ':'); i >= 0 {
		n, _ := strconv.Atoi(src[i+1:])
		return n
	}
	return 0
}

func (h *harness) backend(spec runSpec) (engine.Backend, error) {
	if h.tf.NewBackend != nil {
		b, cleanup, err := h.tf.NewBackend(h.ctx, spec.ctid)
		if err != nil {
			return nil, err
		}
		if cleanup != nil {
			h.cleanups = append(h.cleanups, cleanup)
		}
		return b, nil
	}
	fb := memhost.New()
	if spec.status != "missing" {
		c := &memhost.Container{Running: spec.status == "running", Files: map[string][]byte{}}
		for k, v := range spec.files {
			c.Files[k] = []byte(v)
		}
		fb.Put(spec.ctid, c)
	}
	return fb, nil
}

var hookCTID = regexpMust(`phoenix_hypervisor_setup_(\d+)\.lua$`)

func (h *harness) runSpec(L *lua.LState) runSpec {
	spec := runSpec{hook: h.tf.Hook, status: "running"}
	opts, _ := L.Get(1).(*lua.LTable)
	if opts == nil && L.Get(1) != lua.LNil {
		L.ArgError(1, "a table of options expected")
	}
	get := func(k string) lua.LValue {
		if opts == nil {
			return lua.LNil
		}
		return h.s.data(opts).RawGetString(k)
	}
	if opts != nil {
		h.s.data(opts).ForEach(func(k, _ lua.LValue) {
			switch describe(k) {
			case "hook", "ctid", "dry_run", "status", "files", "dirs", "secrets", "exec", "config", "lxc", "container":
			default:
				L.ArgError(1, fmt.Sprintf("unknown option %q (known: hook, ctid, dry_run, status, files, dirs, secrets, exec, config, lxc, container)", describe(k)))
			}
		})
	}
	if v, ok := get("hook").(lua.LString); ok {
		spec.hook = string(v)
		if !filepath.IsAbs(spec.hook) {
			spec.hook = filepath.Join(filepath.Dir(h.tf.Path), spec.hook)
		}
	}
	if spec.hook == "" {
		L.ArgError(1, "no hook to run: name it with t.run{hook = \"phoenix_hypervisor_setup_<CTID>.lua\"}")
	}
	if m := hookCTID.FindStringSubmatch(spec.hook); m != nil {
		spec.ctid, _ = strconv.Atoi(m[1])
	}
	if v, ok := get("ctid").(lua.LNumber); ok {
		spec.ctid = int(v)
	}
	spec.dryRun = lua.LVAsBool(get("dry_run"))
	if v, ok := get("status").(lua.LString); ok {
		if v != "running" && v != "stopped" && v != "missing" {
			L.ArgError(1, "status: running, stopped or missing")
		}
		spec.status = string(v)
	}
	spec.files = stringMap(L, h.s, get("files"), "files")
	spec.secrets = stringMap(L, h.s, get("secrets"), "secrets")
	if t, ok := get("exec").(*lua.LTable); ok {
		t = h.s.data(t)
		for i := 1; i <= t.Len(); i++ {
			rt, ok := t.RawGetInt(i).(*lua.LTable)
			if !ok {
				L.ArgError(1, fmt.Sprintf("exec[%d]: a table {pattern, code=, stdout=, stderr=, times=} expected", i))
			}
			spec.rules = append(spec.rules, execRuleOf(L, h.s.data(rt), i))
		}
	}
	spec.dirs = stringList(L, h.s, get("dirs"), "dirs")
	if h.tf.NewBackend != nil && (spec.status != "running" || len(spec.files) > 0 || len(spec.dirs) > 0) {
		L.ArgError(1, "status, files and dirs set up the fake container: a real one (--backend lxc) is a fresh running Debian; make the state in the case (t.run{exec = ...} or a setup hook), or check t.backend")
	}
	spec.cfg = h.config(get("config"), get("lxc"), get("container"), spec.ctid)
	return spec
}

// execRuleOf reads exec[i] = {pattern, code=, stdout=, stderr=, times=};
// an unknown key or a value of the wrong type is an error, as a pct
// option would be, not a rule that silently never applies.
func execRuleOf(L *lua.LState, rt *lua.LTable, i int) *execRule {
	bad := func(format string, args ...any) {
		L.ArgError(1, fmt.Sprintf("exec[%d]: ", i)+fmt.Sprintf(format, args...))
	}
	r := &execRule{}
	rt.ForEach(func(k, v lua.LValue) {
		switch key := describe(k); {
		case k == lua.LNumber(1):
			p, ok := v.(lua.LString)
			if !ok || p == "" {
				bad("the first element must be a Lua pattern matched against the command")
			}
			r.pattern = string(p)
		case key == "code" || key == "times":
			n, ok := v.(lua.LNumber)
			if !ok || n < 0 || n != lua.LNumber(int(n)) || key == "code" && n > 255 {
				bad("%s: a whole number expected (code: 0 to 255), got %s", key, describe(v))
			}
			if key == "code" {
				r.code = int(n)
			} else {
				r.times = int(n)
			}
		case key == "stdout" || key == "stderr":
			str, ok := v.(lua.LString)
			if !ok {
				bad("%s: a string expected, got %s", key, v.Type().String())
			}
			if key == "stdout" {
				r.stdout = string(str)
			} else {
				r.stderr = string(str)
			}
		default:
			bad("unknown key %q (known: the pattern first, then code, stdout, stderr, times)", key)
		}
	})
	if r.pattern == "" {
		bad("the first element must be a Lua pattern matched against the command")
	}
	return r
}

func stringList(L *lua.LState, s *sandbox, v lua.LValue, name string) []string {
	t, ok := v.(*lua.LTable)
	if !ok {
		return nil
	}
	return s.stringList(L, 1, name, t, 4096)
}

func stringMap(L *lua.LState, s *sandbox, v lua.LValue, name string) map[string]string {
	out := map[string]string{}
	t, ok := v.(*lua.LTable)
	if !ok {
		return out
	}
	s.data(t).ForEach(func(k, e lua.LValue) {
		str, ok := e.(lua.LString)
		if !ok {
			L.ArgError(1, fmt.Sprintf("%s: string values expected", name))
		}
		out[lua.LVAsString(k)] = string(str)
	})
	return out
}

// config builds the configuration the hook sees: the base one with the
// parts the case gives replaced.
func (h *harness) config(hyp, lxcDoc, container lua.LValue, ctid int) *engine.Config {
	cfg := &engine.Config{Containers: map[int]*engine.Container{}}
	if b := h.tf.Config; b != nil {
		cfg.HypervisorFile, cfg.LXCFile = b.HypervisorFile, b.LXCFile
		cfg.Hypervisor, cfg.LXC = b.Hypervisor, b.LXC
		for id, c := range b.Containers {
			cfg.Containers[id] = c
		}
	}
	if m, ok := h.s.toGo(hyp, 0).(map[string]any); ok {
		cfg.Hypervisor = m
	}
	if m, ok := h.s.toGo(lxcDoc, 0).(map[string]any); ok {
		cfg.LXC = m
	}
	if m, ok := h.s.toGo(container, 0).(map[string]any); ok {
		cfg.Containers[ctid] = &engine.Container{CTID: ctid, Raw: m}
	}
	return cfg
}

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }
