package hooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/fake"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

type luaFixture struct {
	dir    string
	ct     *engine.Container
	cfg    *engine.Config
	fake   *fake.Backend
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
	b := fake.New()
	b.Put(950, &fake.Container{Running: true})
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
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "phoenix_hypervisor_setup_950.lua"), []byte("assert(X == nil)"), 0o644))
	require.NoError(t, f.run(context.Background()))
}
