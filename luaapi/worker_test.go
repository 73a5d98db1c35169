package luaapi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// TestMain makes the test binary a hook worker when re-executed as one.
func TestMain(m *testing.M) {
	if IsWorker() {
		os.Exit(WorkerMain())
	}
	os.Exit(m.Run())
}

func runIsolated(t *testing.T, src string, mod ...func(*Options)) (error, *events) {
	t.Helper()
	b := runningFake(950)
	ev := &events{}
	o := Options{CTID: 950, Path: "/hooks/phoenix_hypervisor_setup_950.lua", Source: []byte(src), Backend: b, Events: ev,
		Limits: Limits{Timeout: 20 * time.Second}}
	for _, m := range mod {
		m(&o)
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	return RunIsolated(context.Background(), o, exe), ev
}

func TestWorkerRunsHookThroughParent(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "secrets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", "hf_token"), []byte("hf_WORKERsecret99\n"), 0o600))
	b := runningFake(950)
	var secrets []string
	ev := &events{}
	exe, _ := os.Executable()
	err := RunIsolated(context.Background(), Options{
		CTID: 950, Path: "/h/phoenix_hypervisor_setup_950.lua", Backend: b, Events: ev, Config: testConfig(), BaseDir: dir,
		Redact: func(s string) { secrets = append(secrets, s) },
		Source: []byte(`local c = config.container()
local r = pct_exec({"echo", c.name})
pct_push("x", "/etc/x", {perms = "0600"})
assert(pct_status() == "running")
local tok = config.secret("core_paths.hf_token_file")
log.info("model %s token %s", c.vllm_model, tok)`),
	}, exe)
	require.NoError(t, err)
	calls := b.Calls()
	require.Len(t, calls, 3)
	require.Equal(t, []string{"exec", "950", "--", "echo", "vllm"}, calls[0].Argv)
	require.Equal(t, engine.Origin{CTID: 950, Stage: "hook", Source: "phoenix_hypervisor_setup_950.lua:2"}, calls[0].Origin)
	require.Equal(t, "phoenix_hypervisor_setup_950.lua:4", calls[2].Origin.Source)
	require.Equal(t, []byte("x"), b.Get(950).Files["/etc/x"])
	require.Equal(t, []string{"hf_WORKERsecret99"}, secrets)
	got := ev.all()
	require.Len(t, got, 1)
	require.Equal(t, "model Qwen/Qwen2.5 token [REDACTED]", got[0].Message)
	require.Equal(t, "phoenix_hypervisor_setup_950.lua:6", got[0].Source)
}

func TestWorkerReportsHookError(t *testing.T) {
	err, _ := runIsolated(t, "\nerror('boom')")
	he := hookErr(t, err)
	require.Equal(t, 2, he.Line)
	require.Equal(t, "boom", he.Message)
	require.Contains(t, he.Traceback, "stack traceback")
}

func TestWorkerTimeout(t *testing.T) {
	start := time.Now()
	err, _ := runIsolated(t, "local i = 0\nwhile true do i = i + 1 end", func(o *Options) { o.Limits.Timeout = 300 * time.Millisecond })
	he := hookErr(t, err)
	require.Contains(t, he.Message, "timed out after 300ms")
	require.Equal(t, 2, he.Line)
	require.Less(t, time.Since(start), 10*time.Second)
}

// With every in-process guard out of the way, the worker's address-space
// limit is what stops the hook: the worker dies, phoenix reports the hook
// failed at the line it was running.
func TestWorkerOutOfMemory(t *testing.T) {
	start := time.Now()
	err, _ := runIsolated(t, "local t = {}\nlocal i = 0\nwhile true do\n  i = i + 1\n  t['k' .. i] = string.rep('v', 1000)\nend", func(o *Options) {
		o.Limits.MaxHeapBytes = 1 << 50
		o.Limits.MaxStringBytes = 1 << 40
		o.Limits.MaxTableLen = 1 << 40
		o.Limits.WorkerMemory = 512 << 20
	})
	he := hookErr(t, err)
	if raceEnabled {
		// The race detector's shadow memory cannot live under RLIMIT_AS:
		// the worker dies at start; what matters holds: the hook failed
		// and this process is fine.
		require.Contains(t, he.Message, "worker")
		return
	}
	require.Contains(t, he.Message, "ran out of memory (limit 512 MiB)")
	require.Contains(t, []int{3, 4, 5, 6}, he.Line) // inside the loop, its "end" included
	require.Less(t, time.Since(start), 15*time.Second)
}

// The limits of limits_test.go hold in a worker as well: each hostile
// hook fails with its line, through the wire, and this process goes on.
func TestWorkerLimits(t *testing.T) {
	short := func(o *Options) { o.Limits.Timeout = 500 * time.Millisecond }
	for _, c := range []struct {
		name, src, want string
		mod             func(*Options)
	}{
		{"busy loop", "local i = 0\nwhile true do i = i + 1 end", "timed out after 500ms", short},
		{"pcall swallowing loop", "while true do\n  pcall(function() while true do end end)\nend", "timed out", short},
		{"tail-call loop", "local function f(n) return f(n + 1) end\nreturn f(1)", "too many tail calls", nil},
		{"sleep", "sleep(60)", "timed out", short},
		{"call stack depth", "local function f(n) return 1 + f(n + 1) end\nf(1)", "stack overflow", nil},
		{"string.rep", "local s = string.rep('x', 1e9)", "more than the limit", nil},
		{"string.format width", "local s = string.format('%999999999d', 1)", "width or precision too long", nil},
		{"table.concat", "local big = string.rep('x', 1e6)\nlocal t = {}\nfor i = 1, 40 do t[i] = big end\nlocal s = table.concat(t)", "more than the limit", nil},
		{"concat doubling", "local s = 'x'\nwhile true do\n  s = s .. s\nend", "memory limit exceeded", nil},
		{"table growth", "local t = {}\nlocal i = 0\nwhile true do i = i + 1; t[i] = i end", "memory limit exceeded", nil},
		{"process heap", "local t = {}\nlocal i = 0\nwhile true do i = i + 1; t['k' .. i] = string.rep('v', 1000) end", "process heap", func(o *Options) {
			o.Limits.MaxHeapBytes = 256 << 20
		}},
		{"pattern backtracking", "local s = string.rep('a', 300)\nreturn s:find(string.rep('a*', 30) .. 'b')", "pattern too complex", func(o *Options) {
			o.Limits.MaxPatternSteps = 1_000_000
		}},
		{"pattern deep recursion", "local s = string.rep('a', 4e6)\nreturn s:match('(.-)$')", "too complex", nil},
		{"registry overflow", "local s = string.rep('x', 1e6)\nlocal t = {s:byte(1, -1)}", "too many results", nil},
		{"error object __tostring", "local e = setmetatable({}, {__tostring = function() while true do end end})\nerror(e)", "(error object is a table value)", nil},
		{"error message cut", "error(string.rep('x', 100000))", "bytes cut", nil},
		{"backend calls", "for i = 1, 100 do pct_exec({'true'}) end", "more than 10 container calls", func(o *Options) {
			o.Limits.MaxBackendCalls = 10
		}},
		{"syntax depth", "local x = 1" + strings.Repeat("+1", 450000), "too many syntax levels", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err, _ := runIsolated(t, c.src, func(o *Options) {
				if c.mod != nil {
					c.mod(o)
				}
				if raceEnabled {
					// The race detector's shadow memory needs more
					// address space; the guards above stop these hooks.
					o.Limits.WorkerMemory = 1 << 44
				}
			})
			he := hookErr(t, err)
			require.Contains(t, he.Message, c.want)
			require.Greater(t, he.Line, 0, "no line in %v", he)
			require.Equal(t, "/hooks/phoenix_hypervisor_setup_950.lua", he.File)
			require.Less(t, time.Since(start), 20*time.Second)
		})
	}
}

func TestWorkerLogVolumeAndEscaping(t *testing.T) {
	err, ev := runIsolated(t, "log.warn('a\\nfake [ERROR] line\\27[31m')\nfor i = 1, 5000 do log.info('line %d', i) end", func(o *Options) {
		o.Limits.MaxLogLines = 10
		if raceEnabled {
			o.Limits.WorkerMemory = 1 << 44
		}
	})
	require.NoError(t, err)
	got := ev.all()
	require.Len(t, got, 11)
	require.Equal(t, `a\x0afake [ERROR] line\x1b[31m`, got[0].Message)
	require.Contains(t, got[10].Message, "4991 log lines dropped")
}

// A hook run as another stage (a feature hook: "features") has the
// events it makes in the worker (its log lines) labelled with that stage,
// as in-process, not with the default "hook".
func TestWorkerLabelsEventsWithTheHookStage(t *testing.T) {
	err, ev := runIsolated(t, "log.info('installing')\npct_exec({'echo', 'hi'})\nlog.warn('done')", func(o *Options) {
		o.Path = "/hooks/phoenix_hypervisor_feature_install_web.lua"
		o.Stage = "features"
	})
	require.NoError(t, err)
	got := ev.all()
	require.NotEmpty(t, got)
	var logs int
	for _, e := range got {
		require.Equal(t, "features", e.Stage, "event %+v", e)
		if e.Kind == engine.EventLog {
			logs++
		}
	}
	require.Equal(t, 2, logs)
}

// An interrupted run (Ctrl-C, SIGTERM: the parent's context cancelled)
// stops the worker at once, not after the grace period, and the hook
// fails "interrupted" at the line it was running.
func TestWorkerInterrupted(t *testing.T) {
	b := runningFake(950)
	exe, err := os.Executable()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{CTID: 950, Path: "/hooks/phoenix_hypervisor_setup_950.lua", Backend: b,
		Source: []byte("pct_exec({'true'})\nlocal i = 0\nwhile true do\n  i = i + 1\nend")}
	if raceEnabled {
		o.Limits.WorkerMemory = 1 << 44
	}
	// A grace period no run reaches: only a worker that stops by itself
	// returns, so no clock on a loaded machine decides the outcome.
	o.Limits.WorkerGrace = time.Hour
	// Cancel once the worker is in its loop: after its one call.
	var once sync.Once
	b.Exec_ = func(int, []string, engine.ExecOptions) (engine.ExecResult, bool) {
		once.Do(func() { time.AfterFunc(300*time.Millisecond, cancel) })
		return engine.ExecResult{}, false
	}
	done := make(chan error, 1)
	go func() { done <- RunIsolated(ctx, o, exe) }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the interrupted worker did not stop by itself (its grace period is an hour)")
	}
	he := hookErr(t, err)
	require.Equal(t, "interrupted", he.Message)
	require.Contains(t, []int{3, 4, 5}, he.Line)
}

// Bytes that are not UTF-8 cross the wire unchanged both ways, as they do
// in process: argv, env, stdin, output, pushed content.
func TestWorkerKeepsBinaryData(t *testing.T) {
	b := runningFake(950)
	b.Exec_ = func(_ int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		if argv[len(argv)-1] == "cat" {
			return engine.ExecResult{Stdout: "\xff\xfe" + string(o.Stdin), Stderr: "\x80" + o.Env["K"]}, true
		}
		return engine.ExecResult{}, false
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	o := Options{CTID: 950, Path: "/hooks/phoenix_hypervisor_setup_950.lua", Backend: b,
		Source: []byte(`local r = pct_exec({"cat"}, {stdin = "\200", env = {K = "\201"}})
assert(r.stdout == "\255\254\200", "stdout " .. #r.stdout)
assert(r.stderr == "\128\201", "stderr " .. #r.stderr)
pct_exec({"printf", "\255x"})
pct_push("\255\254", "/etc/\255")`)}
	if raceEnabled {
		o.Limits.WorkerMemory = 1 << 44
	}
	err = RunIsolated(context.Background(), o, exe)
	if err == nil {
		calls := b.Calls()
		require.Len(t, calls, 4, "the env file's push, the three calls")
		require.Equal(t, "\xffx", calls[2].Argv[len(calls[2].Argv)-1])
		require.Equal(t, []byte("\xff\xfe"), b.Get(950).Files["/etc/\xff"])
	}
	require.NoError(t, err)
}

// A secret that is not UTF-8 reaches the run's redactor exactly, so the
// plan (argv rendered by the parent) can redact it.
func TestWorkerBinarySecretRegisteredExactly(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "secrets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", "hf_token"), []byte("hf_\xff\xfeBIN\n"), 0o600))
	var mu sync.Mutex
	var secrets []string
	err, _ := runIsolated(t, "pct_exec({'echo', config.secret('core_paths.hf_token_file')})", func(o *Options) {
		o.Config, o.BaseDir = testConfig(), dir
		o.Redact = func(s string) { mu.Lock(); secrets = append(secrets, s); mu.Unlock() }
		if raceEnabled {
			o.Limits.WorkerMemory = 1 << 44
		}
	})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"hf_\xff\xfeBIN"}, secrets)
}

func TestWorkerWatchesItsParent(t *testing.T) {
	gone := make(chan struct{})
	watchParent(-1, 10*time.Millisecond, func() { close(gone) })
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("a worker whose parent is gone was not told")
	}
	stay := make(chan struct{}, 1)
	watchParent(os.Getppid(), 10*time.Millisecond, func() { stay <- struct{}{} })
	select {
	case <-stay:
		t.Fatal("a worker whose parent is there was told it is gone")
	case <-time.After(200 * time.Millisecond):
	}
}
