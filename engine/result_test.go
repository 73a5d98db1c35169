package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./engine -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), got)
}

// timeless zeroes the durations so a rendering is stable.
func timeless(r *engine.Result) *engine.Result {
	r.Elapsed = 0
	for _, c := range r.Containers {
		c.Elapsed = 0
		for i := range c.Stages {
			c.Stages[i].Elapsed = 0
		}
	}
	return r
}

// mixedRun: 910's shell hook is not executable, 920's hook fails (so 950
// is skipped), the others converge.
func mixedRun(t *testing.T) *engine.Result {
	cfg := exampleConfig()
	host := newHost()
	hooks := luaHooks(cfg)
	hooks.infos[910] = engine.HookInfo{Kind: engine.HookShell, Path: "/hooks/phoenix_hypervisor_setup_910.sh", State: engine.HookNotExecutable,
		Problem: "/hooks/phoenix_hypervisor_setup_910.sh is not executable: run chmod +x /hooks/phoenix_hypervisor_setup_910.sh"}
	hooks.fail[920] = errors.New("phoenix_hypervisor_setup_920.lua:31: pct_exec {pip install vllm}: exit 1: No matching distribution")
	return timeless(run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks}))
}

func TestWriteSummaryGolden(t *testing.T) {
	t.Parallel()
	res := mixedRun(t)
	var plain, color strings.Builder
	engine.WriteSummary(&plain, res, false)
	golden(t, "summary.golden", plain.String())
	engine.WriteSummary(&color, res, true)
	golden(t, "summary_color.golden", color.String())
	assert.Contains(t, color.String(), "\x1b[31mFAILED\x1b[0m")
}

func TestWritePlanGolden(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	hooks := luaHooks(cfg)
	hooks.act = func(ctx context.Context, req engine.HookRequest) error {
		if req.Container.CTID != 950 {
			return nil
		}
		hctx := engine.WithOrigin(ctx, engine.Origin{CTID: 950, Stage: "hook", Source: "phoenix_hypervisor_setup_950.lua:12"})
		_, err := req.Backend.Exec(hctx, 950, []string{"sh", "-c", "systemctl enable --now vllm\nsystemctl status vllm"}, engine.ExecOptions{})
		return err
	}
	res := timeless(run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, DryRun: true}))
	var buf strings.Builder
	engine.WritePlan(&buf, res, engine.PlanOptions{})
	golden(t, "plan.golden", buf.String())

	// the same plan against the host it built says what exists
	res = timeless(run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, DryRun: true}))
	buf.Reset()
	engine.WritePlan(&buf, res, engine.PlanOptions{})
	golden(t, "plan_converged.golden", buf.String())
}

func TestWritePlanFailedAndSkipped(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	engine.WritePlan(&buf, mixedRun(t), engine.PlanOptions{})
	out := buf.String()
	assert.Contains(t, out, "\n- 950 vllmQwen3Coder: skipped: depends on 920\n")
	assert.Contains(t, out, "\nx 920 BaseTemplateVLLM: failed: hook: phoenix_hypervisor_setup_920.lua:31:")
	assert.Contains(t, out, "  hook: failed (/hooks/phoenix_hypervisor_setup_910.sh is not executable: run chmod +x")
}

func TestResultExitCode(t *testing.T) {
	t.Parallel()
	done := &engine.ContainerResult{State: engine.StageDone}
	failed := &engine.ContainerResult{State: engine.StageFailed}
	skipped := &engine.ContainerResult{State: engine.StageSkipped}
	assert.Equal(t, 0, (&engine.Result{Containers: []*engine.ContainerResult{done}}).ExitCode())
	assert.Equal(t, 0, (&engine.Result{}).ExitCode())
	assert.Equal(t, 1, (&engine.Result{Containers: []*engine.ContainerResult{done, failed}}).ExitCode())
	assert.Equal(t, 1, (&engine.Result{Containers: []*engine.ContainerResult{done, skipped}}).ExitCode())
	assert.Equal(t, 130, (&engine.Result{Interrupted: true, Containers: []*engine.ContainerResult{done}}).ExitCode())
}

func TestResultJSON(t *testing.T) {
	t.Parallel()
	res := mixedRun(t)
	data, err := json.Marshal(res)
	require.NoError(t, err)
	var back struct {
		DryRun     bool `json:"dry_run"`
		Containers []struct {
			CTID   int    `json:"ctid"`
			State  string `json:"state"`
			Reason string `json:"reason"`
			Error  string `json:"error"`
			Stages []struct {
				Stage, State, Detail, Error string
			} `json:"stages"`
			Actions []engine.Event `json:"actions"`
		} `json:"containers"`
	}
	require.NoError(t, json.Unmarshal(data, &back))
	require.Len(t, back.Containers, 6)
	c920 := back.Containers[4]
	assert.Equal(t, 920, c920.CTID)
	assert.Equal(t, "failed", c920.State)
	assert.Contains(t, c920.Error, "hook: phoenix_hypervisor_setup_920.lua:31:")
	last := c920.Stages[len(c920.Stages)-1]
	assert.Equal(t, "hook", last.Stage)
	assert.Contains(t, last.Error, "No matching distribution")
	assert.Equal(t, "depends on 920", back.Containers[5].Reason)
	assert.NotEmpty(t, back.Containers[0].Actions)
	assert.Equal(t, []string{"create", "900"}, back.Containers[0].Actions[0].Argv[:2])
}
