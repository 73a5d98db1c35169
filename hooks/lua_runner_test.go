package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

type luaFixture struct {
	dir    string
	ct     *engine.Container
	cfg    *engine.Config
	fake   *memhost.Backend
	events *events
	runner *Runner
}

func newLuaFixture(t *testing.T, src string) *luaFixture {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "phoenix_hypervisor_setup_950.lua"), []byte(src), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "etc", "secrets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "etc", "secrets", "hf_token"), []byte("hf_luaRunnerSECRET42\n"), 0o600))
	ct := &engine.Container{CTID: 950, Raw: map[string]any{"name": "vllm"}}
	b := memhost.New()
	b.Put(950, &memhost.Container{Running: true})
	return &luaFixture{
		dir: dir, ct: ct, fake: b, events: newEvents(), runner: NewRunner(Options{Dir: dir}),
		cfg: &engine.Config{
			HypervisorFile: filepath.Join(dir, "etc", "phoenix_hypervisor_config.json"),
			Hypervisor:     map[string]any{"core_paths": map[string]any{"hf_token_file": "secrets/hf_token"}},
			Containers:     map[int]*engine.Container{950: ct},
		},
	}
}

func (f *luaFixture) run(ctx context.Context, mod ...func(*engine.HookRequest)) error {
	req := engine.HookRequest{Container: f.ct, Config: f.cfg, Backend: f.fake, Events: f.events}
	for _, m := range mod {
		m(&req)
	}
	return f.runner.Run(ctx, req)
}

func TestLuaHookThroughRunner(t *testing.T) {
	f := newLuaFixture(t, "local c = config.container()\npct_exec({'echo', c.name})\nlog.info('done %s v=%s', c.name, phoenix.version)\n")
	ctx := luaapi.WithVersion(context.Background(), "9.9.9")
	require.NoError(t, f.run(ctx))
	calls := f.fake.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, []string{"exec", "950", "--", "echo", "vllm"}, calls[0].Argv)
	require.Equal(t, engine.Origin{CTID: 950, Stage: "hook", Source: "phoenix_hypervisor_setup_950.lua:2"}, calls[0].Origin)
	logs := f.events.kind(engine.EventLog)
	require.Len(t, logs, 1)
	require.Equal(t, "done vllm v=9.9.9", logs[0].Message)
	require.Equal(t, 950, logs[0].CTID)
}

func TestLuaHookErrorHasPathLineAndTraceback(t *testing.T) {
	f := newLuaFixture(t, "local function step()\n  error('apt failed')\nend\nstep()\n")
	err := f.run(context.Background())
	require.Error(t, err)
	want := filepath.Join(f.dir, "phoenix_hypervisor_setup_950.lua") + ":2: apt failed"
	require.Equal(t, want, err.Error())
	var he *luaapi.HookError
	require.True(t, errors.As(err, &he))
	logs := f.events.kind(engine.EventLog)
	require.Len(t, logs, 1)
	require.Equal(t, "DEBUG", logs[0].Level)
	require.True(t, strings.HasPrefix(logs[0].Message, want+"\nstack traceback:"), logs[0].Message)
	require.Contains(t, logs[0].Message, "phoenix_hypervisor_setup_950.lua:4")
}

func TestLuaHookTimeout(t *testing.T) {
	f := newLuaFixture(t, "while true do end")
	start := time.Now()
	err := f.run(context.Background(), func(r *engine.HookRequest) { r.Timeout = 200 * time.Millisecond })
	require.ErrorContains(t, err, "phoenix_hypervisor_setup_950.lua:1: hook timed out after 200ms")
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestLuaHookInterrupted(t *testing.T) {
	f := newLuaFixture(t, "sleep(30)")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err := f.run(ctx)
	require.ErrorContains(t, err, ":1: interrupted")
}

func TestLuaHookSecretRelativeToConfigAndRedacted(t *testing.T) {
	f := newLuaFixture(t, "local tok = config.secret('core_paths.hf_token_file')\nlog.info('got %s', tok)\nerror('bad ' .. tok)")
	var registered []string
	ctx := luaapi.WithRedact(context.Background(), func(s string) { registered = append(registered, s) })
	err := f.run(ctx)
	require.ErrorContains(t, err, ":3: bad [REDACTED]")
	require.Equal(t, []string{"hf_luaRunnerSECRET42"}, registered)
	for _, e := range f.events.list() {
		require.NotContains(t, e.Message, "SECRET42")
	}
}

func TestLuaHookDryRun(t *testing.T) {
	f := newLuaFixture(t, "assert(phoenix.dry_run)\nlocal r = pct_exec('systemctl restart x')\nassert(r.code == 0 and r.stdout == '')\nsleep(100)")
	start := time.Now()
	require.NoError(t, f.run(context.Background(), func(r *engine.HookRequest) { r.DryRun = true }))
	require.Less(t, time.Since(start), 10*time.Second) // not the 100 s it asked for
	require.Equal(t, "phoenix_hypervisor_setup_950.lua:2", f.fake.Calls()[0].Origin.Source)
}

func TestLuaHookFailureDoesNotStopOthers(t *testing.T) {
	// A crashing hook is one failed container; the next hook runs in a
	// fresh sandbox and sees nothing of it.
	f := newLuaFixture(t, "X = 1\nlocal s = 'x'\nwhile true do s = s .. s end")
	err := f.run(context.Background(), func(r *engine.HookRequest) { r.Timeout = 20 * time.Second })
	require.ErrorContains(t, err, "memory limit exceeded")
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "phoenix_hypervisor_setup_950.lua"), []byte("assert(rawget(_G, 'X') == nil)"), 0o644))
	require.NoError(t, f.run(context.Background()))
}

// The test binary is its own Lua hook worker, as the phoenix binary is
// (cmd/phoenix dispatches on luaapi.IsWorker the same way).
func init() {
	if luaapi.IsWorker() {
		os.Exit(luaapi.WorkerMain())
	}
}

// withWorker runs the fixture's hooks in worker processes, as `phoenix run`
// does (luaapi.WithWorker in cmd/phoenix).
func withWorker(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return luaapi.WithWorker(ctx, exe)
}

func TestLuaHookInWorker(t *testing.T) {
	f := newLuaFixture(t, "local c = config.container()\npct_exec({'echo', c.name})\nlog.info('done %s', c.name)\n")
	require.NoError(t, f.run(withWorker(t, context.Background())))
	calls := f.fake.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, []string{"exec", "950", "--", "echo", "vllm"}, calls[0].Argv)
	require.Equal(t, "phoenix_hypervisor_setup_950.lua:2", calls[0].Origin.Source)
	logs := f.events.kind(engine.EventLog)
	require.Len(t, logs, 1)
	require.Equal(t, "done vllm", logs[0].Message)
	require.Equal(t, 950, logs[0].CTID)
}

func TestLuaHookInWorkerErrorHasPathLineAndTraceback(t *testing.T) {
	f := newLuaFixture(t, "local function step()\n  error('apt failed')\nend\nstep()\n")
	err := f.run(withWorker(t, context.Background()))
	want := filepath.Join(f.dir, "phoenix_hypervisor_setup_950.lua") + ":2: apt failed"
	require.EqualError(t, err, want)
	logs := f.events.kind(engine.EventLog)
	require.Len(t, logs, 1)
	require.Equal(t, "DEBUG", logs[0].Level)
	require.True(t, strings.HasPrefix(logs[0].Message, want+"\nstack traceback:"), logs[0].Message)
}

func TestLuaHookInWorkerTimeout(t *testing.T) {
	f := newLuaFixture(t, "local i = 0\nwhile true do\n  i = i + 1\nend")
	start := time.Now()
	err := f.run(withWorker(t, context.Background()), func(r *engine.HookRequest) { r.Timeout = 300 * time.Millisecond })
	require.ErrorContains(t, err, "hook timed out after 300ms")
	require.Regexp(t, `phoenix_hypervisor_setup_950\.lua:[234]: `, err.Error())
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestLuaHookInWorkerSecretRedacted(t *testing.T) {
	f := newLuaFixture(t, "local tok = config.secret('core_paths.hf_token_file')\n"+
		"log.info('got %s', tok)\nprint(tok)\npct_exec({'echo', tok}, {check = false})\nerror('bad ' .. tok)")
	var mu sync.Mutex
	var registered []string
	ctx := luaapi.WithRedact(withWorker(t, context.Background()), func(s string) {
		mu.Lock()
		defer mu.Unlock()
		registered = append(registered, s)
	})
	err := f.run(ctx)
	require.ErrorContains(t, err, ":5: bad [REDACTED]")
	require.NotContains(t, err.Error(), "SECRET42")
	mu.Lock()
	require.Equal(t, []string{"hf_luaRunnerSECRET42"}, registered)
	mu.Unlock()
	for _, e := range f.events.list() {
		require.NotContains(t, e.Message, "SECRET42")
	}
}

// Hostile hooks on several containers, through the whole engine with
// workers as in `phoenix run`: each fails with its file:line, the good one
// runs, and this process goes on.
func TestHostileLuaHooksFailAloneInWorkers(t *testing.T) {
	dir := t.TempDir()
	hostile := map[int]struct{ src, want string }{
		901: {"local i = 0\nwhile true do\n  pcall(function() while true do end end)\nend", `:[2-4]: hook timed out after 1s`},
		902: {"local s = 'x'\nwhile true do\n  s = s .. s\nend", `:[2-4]: memory limit exceeded`},
		903: {"local s = string.rep('a', 300)\nreturn s:find(string.rep('a*', 30) .. 'b')", `:2: (pattern too complex|hook timed out)`},
		904: {"local t = {}\nlocal i = 0\nwhile true do i = i + 1; t['k' .. i] = string.rep('v', 1000) end", `:3: (memory limit exceeded|hook timed out)`},
		905: {"\nerror(setmetatable({}, {__tostring = function() while true do end end}))", `:2: \(error object is a table value\)`},
		906: {"local function f(n) return 1 + f(n + 1) end\nf(1)", `:1: stack overflow`},
	}
	cfg := &engine.Config{Containers: map[int]*engine.Container{}}
	for id := 901; id <= 907; id++ {
		cfg.Containers[id] = &engine.Container{CTID: id, Hostname: fmt.Sprintf("ct%d", id), MemoryMB: 512, Cores: 1,
			StoragePool: "local", StorageSizeGB: 8, Template: "local:vztmpl/ubuntu.tar.zst", Unprivileged: true,
			GPUAssignment: "none", PortainerRole: "none"}
	}
	for id, h := range hostile {
		writeHook(t, dir, id, "lua", h.src, 0o644)
	}
	writeHook(t, dir, 907, "lua", "pct_exec({'touch', '/ok'})", 0o644)

	f := memhost.New()
	res, err := engine.Run(withWorker(t, context.Background()), engine.RunOptions{
		Config: cfg, Backend: f, Hooks: NewRunner(Options{Dir: dir}), Parallel: 2, HookTimeout: time.Second,
		LogFile: filepath.Join(dir, "run.log"), StartTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	require.Len(t, res.Containers, 7)
	for _, c := range res.Containers {
		if c.CTID == 907 {
			assert.Equal(t, engine.StageDone, c.State, "%v", c.Err)
			continue
		}
		assert.Equal(t, engine.StageFailed, c.State, "container %d", c.CTID)
		if assert.Error(t, c.Err, "container %d", c.CTID) {
			assert.Regexp(t, regexp.QuoteMeta(HookPath(dir, c.CTID, "lua"))+hostile[c.CTID].want, c.Err.Error())
		}
	}
	var touched bool
	for _, c := range f.Calls() {
		touched = touched || (c.Op == "exec" && c.Origin.CTID == 907 && c.Argv[len(c.Argv)-1] == "/ok")
	}
	assert.True(t, touched, "the good hook ran")
	assert.Equal(t, engine.ExitFailed, res.ExitCode())
}

// The context's worker is what runs the hook: a missing one fails it.
func TestLuaHookWorkerFromContextIsUsed(t *testing.T) {
	f := newLuaFixture(t, "log.info('in process')")
	err := f.run(luaapi.WithWorker(context.Background(), filepath.Join(t.TempDir(), "no-such-phoenix")))
	require.ErrorContains(t, err, "lua worker: start")
	require.Empty(t, f.events.kind(engine.EventLog))
}
