package lxc_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
	"github.com/phoenix-hypervisor/phoenix/engine/lxc"
	"github.com/phoenix-hypervisor/phoenix/hooks"
)

// TestMain lets this test binary serve as the `pct` shim legacy shell
// hooks find on their PATH, as the phoenix binary does.
func TestMain(m *testing.M) {
	if hooks.IsShim(filepath.Base(os.Args[0])) {
		os.Exit(hooks.ShimMain(os.Args))
	}
	os.Exit(m.Run())
}

// counting wraps a Backend and counts the calls that change something:
// every call but the reads and the stages' probes.
type counting struct {
	engine.Backend
	mu    sync.Mutex
	calls []string
}

func (c *counting) record(op string, ctid int, extra ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, strings.Join(append([]string{op, strconv.Itoa(ctid)}, extra...), " "))
}

func (c *counting) mutating() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

func (c *counting) GPUSupported() (bool, string) {
	return c.Backend.(engine.GPUSupport).GPUSupported()
}

func (c *counting) Create(ctx context.Context, s engine.CreateSpec) error {
	c.record("create", s.CTID)
	return c.Backend.Create(ctx, s)
}

func (c *counting) Clone(ctx context.Context, s engine.CloneSpec) error {
	c.record("clone", s.CTID)
	return c.Backend.Clone(ctx, s)
}

func (c *counting) Set(ctx context.Context, ctid int, o []engine.Option, del []string) error {
	c.record("set", ctid)
	return c.Backend.Set(ctx, ctid, o, del)
}

func (c *counting) AppendRaw(ctx context.Context, ctid int, l []string) error {
	c.record("append-raw", ctid)
	return c.Backend.AppendRaw(ctx, ctid, l)
}

func (c *counting) EditRaw(ctx context.Context, ctid int, e engine.RawEdit) error {
	c.record("edit-raw", ctid)
	return c.Backend.EditRaw(ctx, ctid, e)
}

func (c *counting) Start(ctx context.Context, ctid int) error {
	c.record("start", ctid)
	return c.Backend.Start(ctx, ctid)
}

func (c *counting) Stop(ctx context.Context, ctid int) error {
	c.record("stop", ctid)
	return c.Backend.Stop(ctx, ctid)
}

func (c *counting) Shutdown(ctx context.Context, ctid int, d time.Duration) error {
	c.record("shutdown", ctid)
	return c.Backend.Shutdown(ctx, ctid, d)
}

func (c *counting) Snapshot(ctx context.Context, ctid int, n string) error {
	c.record("snapshot", ctid, n)
	return c.Backend.Snapshot(ctx, ctid, n)
}

func (c *counting) Destroy(ctx context.Context, ctid int) error {
	c.record("destroy", ctid)
	return c.Backend.Destroy(ctx, ctid)
}

func (c *counting) Push(ctx context.Context, ctid int, dest string, b []byte, o engine.PushOptions) error {
	c.record("push", ctid, dest)
	return c.Backend.Push(ctx, ctid, dest, b, o)
}

func (c *counting) Exec(ctx context.Context, ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, error) {
	if !o.Probe {
		c.record("exec", ctid, argv...)
	}
	return c.Backend.Exec(ctx, ctid, argv, o)
}

// exampleConfig loads examples/lxc with its template pointed at the
// cached rootfs.
func exampleConfig(t *testing.T, rootfs string) (*engine.Config, string) {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "lxc")
	dir := t.TempDir()
	for _, f := range []string{"phoenix_hypervisor_config.json", "phoenix_lxc_configs.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		data = []byte(strings.ReplaceAll(string(data), lxc.DefaultRootfsCache, rootfs))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
	cfg, err := config.Load(filepath.Join(dir, "phoenix_hypervisor_config.json"), filepath.Join(dir, "phoenix_lxc_configs.json"))
	require.NoError(t, err)
	hooksDir, err := filepath.Abs(src)
	require.NoError(t, err)
	return cfg, hooksDir
}

func runOptions(t *testing.T, cfg *engine.Config, be engine.Backend, hooksDir string) engine.RunOptions {
	shim, err := os.Executable()
	require.NoError(t, err)
	return engine.RunOptions{
		Config:       cfg,
		Backend:      be,
		Hooks:        hooks.NewRunner(hooks.Options{Dir: hooksDir, ShimExe: shim}),
		LogFile:      filepath.Join(t.TempDir(), "phoenix.log"),
		HookTimeout:  2 * time.Minute,
		StartTimeout: time.Minute,
		Events: engine.SinkFunc(func(e engine.Event) {
			if e.Kind == engine.EventOutput || e.Kind == engine.EventLog {
				t.Logf("CT %d %s: %s", e.CTID, e.Level, e.Message)
			}
		}),
	}
}

func requireAllDone(t *testing.T, res *engine.Result) {
	t.Helper()
	for _, c := range res.Containers {
		assert.Equal(t, engine.StageDone, c.State, "CT %d: %s %v", c.CTID, c.Reason, c.Err)
		for _, s := range c.Stages {
			assert.NotEqual(t, engine.StageFailed, s.State, "CT %d stage %s: %v", c.CTID, s.Stage, s.Err)
		}
	}
	require.Equal(t, engine.ExitOK, res.ExitCode())
}

// TestRealDeploymentOfTheExample provisions examples/lxc for real: a
// template (create, hook-less, snapshot) and two overlay clones of its
// snapshot, one with a Lua hook and one with a legacy shell hook, each
// writing a file in its own container that the test reads back from
// inside. A second run of the converged deployment changes nothing.
func TestRealDeploymentOfTheExample(t *testing.T) {
	be := lxc.NewRealBackend(t)
	rootfs := lxc.TestRootfs(t)
	cfg, hooksDir := exampleConfig(t, rootfs)
	for _, n := range be.PlanNotes(cfg) {
		t.Log("plan note:", n)
	}
	cb := &counting{Backend: be}
	ctx := context.Background()

	start := time.Now()
	res, err := engine.Run(ctx, runOptions(t, cfg, cb, hooksDir))
	require.NoError(t, err)
	first := time.Since(start)
	requireAllDone(t, res)
	t.Logf("FIGURE first run (3-container DAG, for real): %s", first.Round(time.Millisecond))
	for _, c := range res.Containers {
		var parts []string
		for _, s := range c.Stages {
			parts = append(parts, s.Stage+"="+s.Elapsed.Round(time.Millisecond).String())
		}
		t.Logf("  CT %d %s: %s", c.CTID, c.Elapsed.Round(time.Millisecond), strings.Join(parts, " "))
	}

	read := func(ctid int) string {
		r, err := be.Exec(ctx, ctid, []string{"cat", "/root/phoenix-demo.txt"}, engine.ExecOptions{})
		require.NoError(t, err)
		require.Equal(t, 0, r.Code, r.Stderr)
		return r.Stdout
	}
	assert.Equal(t, "written by a Lua hook in lxc-demo-lua (CT 101)\n", read(101))
	assert.Equal(t, "written by a shell hook in lxc-demo-shell (CT 102)\n", read(102))
	for _, id := range []int{100, 101, 102} {
		lxc.RequireNoNetwork(t, be, id)
	}
	snaps, err := be.ListSnapshots(ctx, 100)
	require.NoError(t, err)
	assert.Equal(t, []string{"demo-base"}, snaps)
	r, err := be.Exec(ctx, 100, []string{"test", "-e", "/root/phoenix-demo.txt"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Code, "the template has no hook: its clones' files are their own")

	cb2 := &counting{Backend: be}
	start = time.Now()
	res, err = engine.Run(ctx, runOptions(t, cfg, cb2, hooksDir))
	require.NoError(t, err)
	second := time.Since(start)
	requireAllDone(t, res)
	assert.Empty(t, cb2.mutating(), "a converged re-run makes no mutating call")
	for _, c := range res.Containers {
		for _, s := range c.Stages {
			assert.NotEqual(t, engine.StageDone, s.State, "CT %d stage %s acted on a converged run", c.CTID, s.Stage)
		}
	}
	t.Logf("FIGURE converged re-run: %s", second.Round(time.Millisecond))
}

// TestRealHookTestOnThrowawayContainer is `phoenix hook test --backend
// lxc`: the example's Lua hook tests run against real throwaway
// containers, and pass as they do against the fake (TestExampleValidates).
func TestRealHookTestOnThrowawayContainer(t *testing.T) {
	lxc.RequireLXC(t)
	rootfs := lxc.TestRootfs(t)
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "lxc"))
	require.NoError(t, err)
	ctx := context.Background()

	var out strings.Builder
	lxcPath := t.TempDir()
	passed, failed, err := hooks.RunTests(ctx, &out, hooks.TestOptions{HooksDir: dir, Backend: "lxc",
		NewBackend: lxc.ThrowawayFactory(lxc.Options{LXCPath: lxcPath}, rootfs)})
	require.NoError(t, err)
	t.Log(out.String())
	assert.Equal(t, 0, failed, out.String())
	assert.Equal(t, 2, passed, out.String())
	ents, err := os.ReadDir(lxcPath)
	require.NoError(t, err)
	assert.Empty(t, ents, "throwaways live in their own lxcpath and are gone")
}

// TestRealGPUContainerSkipsTheNvidiaStage: a container that asks for GPUs
// is provisioned on this backend; its NVIDIA stage says why it skipped
// and the run does not fail.
func TestRealGPUContainerSkipsTheNvidiaStage(t *testing.T) {
	be := lxc.NewRealBackend(t)
	ct := &engine.Container{CTID: 110, Hostname: "gpu", MemoryMB: 256, Cores: 1, Template: lxc.TestRootfs(t),
		StoragePool: "local", StorageSizeGB: 2, GPUAssignment: "0", PortainerRole: "none", Raw: map[string]any{}}
	cfg := &engine.Config{Containers: map[int]*engine.Container{110: ct}, NvidiaDriverVersion: "580.76.06"}
	res, err := engine.Run(context.Background(), engine.RunOptions{Config: cfg, Backend: be, StartTimeout: time.Minute})
	require.NoError(t, err)
	requireAllDone(t, res)
	var nvidia *engine.StageResult
	for i, s := range res.Containers[0].Stages {
		if s.Stage == "nvidia" {
			nvidia = &res.Containers[0].Stages[i]
		}
	}
	require.NotNil(t, nvidia, "%+v", res.Containers[0].Stages)
	assert.Equal(t, engine.StageSkipped, nvidia.State)
	assert.Contains(t, nvidia.Detail, "no GPU on this backend")
	cfgNow, err := be.Config(context.Background(), 110)
	require.NoError(t, err)
	for k := range cfgNow {
		assert.False(t, strings.HasPrefix(k, "dev"), "no passthrough entry: %s", k)
	}
}

// TestExampleValidates keeps examples/lxc valid (no root needed): its
// configs load, every hook compiles or parses, and the Lua hook's tests
// pass on the fake.
func TestExampleValidates(t *testing.T) {
	cfg, hooksDir := exampleConfig(t, lxc.DefaultRootfsCache)
	require.Len(t, cfg.Containers, 3)
	assert.Equal(t, 100, cfg.Containers[101].CloneFrom)
	assert.Equal(t, 100, cfg.Containers[102].CloneFrom)
	assert.Equal(t, "demo-base", cfg.Containers[100].TemplateSnapshot)
	assert.Empty(t, hooks.Validate(hooksDir, cfg))
	r := hooks.NewRunner(hooks.Options{Dir: hooksDir})
	assert.Equal(t, engine.HookLua, r.Describe(cfg.Containers[101]).Kind)
	assert.Equal(t, engine.HookShell, r.Describe(cfg.Containers[102]).Kind)
	assert.Equal(t, engine.HookReady, r.Describe(cfg.Containers[102]).State, "the shell hook is committed executable")

	var out strings.Builder
	passed, failed, err := hooks.RunTests(context.Background(), &out, hooks.TestOptions{HooksDir: hooksDir})
	require.NoError(t, err)
	assert.Equal(t, 0, failed, out.String())
	assert.Equal(t, 2, passed, out.String())
}
