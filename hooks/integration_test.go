package hooks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/engine/runlog"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// A failing legacy hook fails its container, skips its dependents and not
// its siblings, through the whole engine.
func TestFailingShellHookSkipsDependentsNotSiblings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ct := func(id, from int, snap string) *engine.Container {
		c := &engine.Container{CTID: id, Hostname: fmt.Sprintf("ct%d", id), MemoryMB: 512, Cores: 1,
			StoragePool: "local", StorageSizeGB: 8, Unprivileged: true, CloneFrom: from, TemplateSnapshot: snap,
			GPUAssignment: "none", PortainerRole: "none"}
		if from == 0 {
			c.Template = "local:vztmpl/ubuntu.tar.zst"
			c.IsTemplate = true
		}
		return c
	}
	cfg := &engine.Config{Containers: map[int]*engine.Container{
		900: ct(900, 0, "base-snapshot"),
		901: ct(901, 900, "gpu-snapshot"),
		902: ct(902, 900, ""),
		910: ct(910, 901, ""),
	}}
	for _, c := range cfg.Containers {
		if c.CloneFrom != 0 {
			c.Dependencies = []int{c.CloneFrom}
		}
	}
	ranMarker := filepath.Join(dir, "910-ran")
	writeHook(t, dir, 901, "sh", "#!/bin/bash\necho 'driver download failed' >&2\nexit 4\n", 0o755)
	writeHook(t, dir, 902, "sh", "#!/bin/bash\npct status \"$1\" | grep -q running\n", 0o755)
	writeHook(t, dir, 910, "sh", "#!/bin/bash\ntouch "+ranMarker+"\n", 0o755)

	f := memhost.New()
	res, err := engine.Run(context.Background(), engine.RunOptions{
		Config: cfg, Backend: f, Hooks: NewRunner(Options{Dir: dir}),
		LogFile: filepath.Join(dir, "run.log"), StartTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	states := map[int]*engine.ContainerResult{}
	for _, c := range res.Containers {
		states[c.CTID] = c
	}
	require.Len(t, states, 4)
	assert.Equal(t, engine.StageDone, states[900].State, "%v", states[900].Err)
	assert.Equal(t, engine.StageFailed, states[901].State)
	require.Error(t, states[901].Err)
	assert.Equal(t, "hook: phoenix_hypervisor_setup_901.sh: exited with code 4; last stderr lines: driver download failed", states[901].Err.Error(),
		"the stage says hook, the error does not say it again")
	assert.Equal(t, 1, strings.Count(states[901].Err.Error(), "phoenix_hypervisor_setup_901.sh"), "the hook is named once: %v", states[901].Err)
	assert.Equal(t, engine.StageDone, states[902].State, "the sibling goes on: %v", states[902].Err)
	assert.Equal(t, engine.StageSkipped, states[910].State)
	assert.Contains(t, states[910].Reason, "901")
	assert.NoFileExists(t, ranMarker)
	assert.Equal(t, engine.ExitFailed, res.ExitCode())
}

// A dry-run shell hook whose isolation cannot be set up is listed in the
// plan as not run (the stage skipped, saying why), not failed.
func TestDryRunHookNotIsolatedIsSkippedInThePlan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := &engine.Config{Containers: map[int]*engine.Container{
		940: {CTID: 940, Hostname: "legacy", MemoryMB: 512, Cores: 1, StoragePool: "local", StorageSizeGB: 8,
			Template: "local:vztmpl/ubuntu.tar.zst", Unprivileged: true, GPUAssignment: "none", PortainerRole: "none"},
	}}
	writeHook(t, dir, 940, "sh", "#!/bin/bash\nexit 0\n", 0o755)
	f := memhost.New()
	res, err := engine.Run(context.Background(), engine.RunOptions{
		Config: cfg, Backend: dryrun.New(f), DryRun: true,
		Hooks: NewRunner(Options{Dir: dir, ShimExe: filepath.Join(dir, "no-such-phoenix")}),
	})
	require.NoError(t, err)
	require.Len(t, res.Containers, 1)
	c := res.Containers[0]
	assert.Equal(t, engine.StageDone, c.State, "%v", c.Err)
	var hook *engine.StageResult
	for i := range c.Stages {
		if c.Stages[i].Stage == "hook" {
			hook = &c.Stages[i]
		}
	}
	require.NotNil(t, hook)
	assert.Equal(t, engine.StageSkipped, hook.State)
	assert.Contains(t, hook.Detail, "phoenix_hypervisor_setup_940.sh listed, not run: ")
	assert.Empty(t, f.MutatingCalls())
}

// A shell hook that is not executable is not run, in a run and in a plan;
// the console warns and the summary says so, both with the chmod +x that
// fixes it, and the container is not failed for it.
// A hook that exists but is not executable fails its container (exit 1),
// with the fix, in the console and the summary: a green run would leave
// the container without its set-up.
func TestNotExecutableHookFailsItsContainer(t *testing.T) {
	t.Parallel()
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry-run=%v", dry), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := &engine.Config{Containers: map[int]*engine.Container{
				940: {CTID: 940, Hostname: "LegacyScripted", MemoryMB: 512, Cores: 1, StoragePool: "local", StorageSizeGB: 8,
					Template: "local:vztmpl/ubuntu.tar.zst", Unprivileged: true, GPUAssignment: "none", PortainerRole: "none"},
			}}
			ranMarker := filepath.Join(dir, "ran")
			path := writeHook(t, dir, 940, "sh", "#!/bin/bash\ntouch "+ranMarker+"\n", 0o644)
			fix := "chmod +x " + path

			var console strings.Builder
			f := memhost.New()
			var b engine.Backend = f
			if dry {
				b = dryrun.New(f)
			}
			res, err := engine.Run(context.Background(), engine.RunOptions{
				Config: cfg, Backend: b, DryRun: dry, Hooks: NewRunner(Options{Dir: dir}),
				Events: runlog.NewConsole(&console, false), StartTimeout: 10 * time.Second,
			})
			require.NoError(t, err)
			assert.Contains(t, console.String(), "[940] hook: failed: "+path+" is not executable: run "+fix+"\n")

			var summary strings.Builder
			engine.WriteSummary(&summary, res, false)
			assert.Regexp(t, `940\s+LegacyScripted(\s+\S+){5}\s+FAILED\s`, summary.String(), "the hook column")
			assert.Contains(t, summary.String(), "940 LegacyScripted: failed: hook: "+path+" is not executable: run "+fix+"\n")

			require.Len(t, res.Containers, 1)
			assert.Equal(t, engine.StageFailed, res.Containers[0].State)
			assert.Equal(t, engine.ExitFailed, res.ExitCode())
			assert.NoFileExists(t, ranMarker)
		})
	}
}

// In a plan on an empty host, the old-style hook of a container the plan
// clones reads the planned state through the shim: its container exists
// and runs, and the template has the snapshot the plan takes. Nothing
// reaches the host.
func TestDryRunLegacyHookSeesThePlannedState(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	dir := t.TempDir()
	base := engine.Container{MemoryMB: 512, Cores: 1, StoragePool: "local", StorageSizeGB: 8, Unprivileged: true,
		GPUAssignment: "none", PortainerRole: "none"}
	tmpl, legacy := base, base
	tmpl.CTID, tmpl.Hostname, tmpl.Template = 900, "BaseTemplate", "local:vztmpl/ubuntu.tar.zst"
	tmpl.IsTemplate, tmpl.TemplateSnapshot = true, "base-snapshot"
	legacy.CTID, legacy.Hostname, legacy.CloneFrom, legacy.Dependencies = 940, "LegacyScripted", 900, []int{900}
	lxcFile := filepath.Join(dir, "phoenix_lxc_configs.json")
	require.NoError(t, writeFile(lxcFile, `{"lxc_configs": {"940": {"name": "LegacyScripted"}}}`))
	cfg := &engine.Config{LXCFile: lxcFile, Containers: map[int]*engine.Container{900: &tmpl, 940: &legacy}}
	script, err := os.ReadFile("testdata/legacy_hook.sh")
	require.NoError(t, err)
	writeHook(t, dir, 940, "sh", string(script), 0o755)

	f := memhost.New() // an empty host
	ev := newEvents()
	res, err := engine.Run(context.Background(), engine.RunOptions{
		Config: cfg, Backend: dryrun.New(f), DryRun: true, Events: ev,
		Hooks: NewRunner(Options{Dir: dir}), StartTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	for _, c := range res.Containers {
		assert.Equal(t, engine.StageDone, c.State, "%d: %v", c.CTID, c.Err)
	}
	var hookActs []string
	for _, a := range ev.kind(engine.EventAction) {
		if a.Source == "phoenix_hypervisor_setup_940.sh" {
			hookActs = append(hookActs, engine.FormatArgv(a.Argv))
		}
	}
	assert.Equal(t, []string{"pct exec 940 -- apt-get update", "pct exec 940 -- hostname"}, hookActs)
	assert.Contains(t, lastLine(ev.output("INFO")), "Container 940 (LegacyScripted) set up, dry-run=1")
	assert.Empty(t, f.MutatingCalls())
}
