package luaapi

import (
	"context"
	"os"
	"path/filepath"
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
