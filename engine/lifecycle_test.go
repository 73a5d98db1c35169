package engine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// builtHost runs the example config on a fake host, so every container
// exists, runs and carries its hook marker; the calls are then reset.
func builtHost(t *testing.T, cfg *engine.Config, hooks engine.HookRunner) *memhost.Backend {
	t.Helper()
	b := newHost()
	res := run(t, engine.RunOptions{Config: cfg, Backend: b, Hooks: hooks})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	b.ResetCalls()
	return b
}

func lifecycleOpts(cfg *engine.Config, b engine.Backend, ids ...int) engine.LifecycleOptions {
	return engine.LifecycleOptions{Config: cfg, Backend: b, CTIDs: ids}
}

func mutating(b *memhost.Backend) []string {
	var out []string
	for _, c := range b.MutatingCalls() {
		out = append(out, strings.Join(c.Argv, " "))
	}
	return out
}

func bootOrder(ct *engine.Container, n int) { ct.Boot = &engine.Boot{Order: &n} }

func TestStartOrderPutsSourcesAndDependenciesFirstThenBootOrder(t *testing.T) {
	cfg := exampleConfig()
	// 950 depends on 910 besides its clone source; 910 boots first among
	// the independent ones, 902 second.
	cfg.Containers[950].Dependencies = []int{910}
	bootOrder(cfg.Containers[910], 1)
	bootOrder(cfg.Containers[901], 2)
	order, err := engine.StartOrder(cfg, []int{900, 901, 902, 910, 920, 950})
	require.NoError(t, err)
	assert.Equal(t, []int{900, 901, 902, 910, 920, 950}, order)

	// Without the sources in between, 950 still comes after 910 and 900
	// (through 920, 901): dependencies count through unchosen containers.
	order, err = engine.StartOrder(cfg, []int{950, 910, 900})
	require.NoError(t, err)
	assert.Equal(t, []int{900, 910, 950}, order)

	// boot_order decides between independent containers: 910 (order 1)
	// before 920's chain is free, whatever the CTIDs.
	cfg.Containers[940] = &engine.Container{CTID: 940, Hostname: "b", CloneFrom: 900}
	bootOrder(cfg.Containers[940], 0)
	order, err = engine.StartOrder(cfg, []int{910, 940, 920})
	require.NoError(t, err)
	assert.Equal(t, []int{940, 910, 920}, order, "boot_order 0 and 1 first, then the container without one")
}

func TestStopShutsDownDependentsFirstAndLeavesStoppedOnesAlone(t *testing.T) {
	cfg := exampleConfig()
	b := builtHost(t, cfg, nil)
	require.NoError(t, b.Stop(context.Background(), 910))
	b.ResetCalls()
	res, err := engine.Stop(context.Background(), lifecycleOpts(cfg, b, 900, 902, 910))
	require.NoError(t, err)
	assert.Equal(t, []string{"shutdown 902 --timeout 60", "shutdown 900 --timeout 60"}, mutating(b))
	assert.Equal(t, 910, res.Containers[0].CTID, "dependents first")
	assert.Equal(t, engine.StageAlready, stageOf(res.Containers[0], engine.StageStop).State)
	assert.Equal(t, "stopped", stageOf(res.Containers[0], engine.StageStop).Detail)
	assert.Equal(t, engine.ExitOK, res.ExitCode())
	assert.Equal(t, []string{engine.StageStop}, res.Columns)

	b.ResetCalls()
	res, err = engine.Stop(context.Background(), lifecycleOpts(cfg, b, 900, 902, 910))
	require.NoError(t, err)
	assert.Empty(t, mutating(b), "all stopped already: nothing done")
	assert.Contains(t, strings.Join(res.Notes, "\n"), "nothing to do")
}

func TestStopFallsBackToPctStopWhenShutdownFails(t *testing.T) {
	cfg := exampleConfig()
	b := builtHost(t, cfg, nil)
	b.Fail = func(op string, ctid int, _ []string) error {
		if op == "shutdown" {
			return errors.New("CT 910: shutdown timed out")
		}
		return nil
	}
	o := lifecycleOpts(cfg, b, 910)
	o.ShutdownTimeout = 5 * time.Second
	res, err := engine.Stop(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, []string{"shutdown 910 --timeout 5", "stop 910"}, mutating(b))
	assert.Equal(t, "stopped: shutdown did not end within 5s", stageOf(res.Containers[0], engine.StageStop).Detail)
	assert.False(t, b.Get(910).Running)
}

func TestStartWaitsBootDelayBetweenContainersNotAfterTheLast(t *testing.T) {
	cfg := exampleConfig()
	b := builtHost(t, cfg, nil)
	for _, id := range []int{900, 902, 910} {
		require.NoError(t, b.Stop(context.Background(), id))
		delay := 5
		cfg.Containers[id].Boot = &engine.Boot{Delay: &delay}
	}
	b.ResetCalls()
	var waited []time.Duration
	o := lifecycleOpts(cfg, b, 900, 902, 910)
	o.Sleep = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	res, err := engine.Start(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, []string{"start 900", "start 902", "start 910"}, mutating(b))
	assert.Equal(t, []time.Duration{5 * time.Second, 5 * time.Second}, waited)
	assert.Equal(t, "started; waited 5s (boot_delay)", stageOf(res.Containers[0], engine.StageStart).Detail)

	// Dry-run: the same calls recorded, none made, no wait.
	for _, id := range []int{900, 902, 910} {
		require.NoError(t, b.Stop(context.Background(), id))
	}
	b.ResetCalls()
	waited = nil
	rec := dryrun.New(b)
	o.Backend, o.DryRun = rec, true
	res, err = engine.Start(context.Background(), o)
	require.NoError(t, err)
	assert.Empty(t, mutating(b))
	assert.Empty(t, waited)
	assert.Len(t, rec.Calls(), 3)
	assert.Equal(t, "started; then waits 5s (boot_delay)", stageOf(res.Containers[0], engine.StageStart).Detail)
	assert.True(t, res.DryRun)
}

func TestStartOfAMissingContainerFailsItAloneAndSaysHowToBuildIt(t *testing.T) {
	cfg := exampleConfig()
	b := newHost()
	b.Put(900, &memhost.Container{Config: map[string]string{"hostname": "BaseTemplate"}})
	res, err := engine.Start(context.Background(), lifecycleOpts(cfg, b, 900, 902))
	require.NoError(t, err)
	assert.Equal(t, engine.StageDone, container(t, res, 900).State)
	assert.Equal(t, engine.StageFailed, container(t, res, 902).State)
	assert.ErrorContains(t, container(t, res, 902).Err, "phoenix run --ctid 902")
	assert.Equal(t, engine.ExitFailed, res.ExitCode())
}

func TestRestartStopsDependentsFirstThenStartsSourcesFirst(t *testing.T) {
	cfg := exampleConfig()
	b := builtHost(t, cfg, nil)
	res, err := engine.Restart(context.Background(), lifecycleOpts(cfg, b, 900, 902))
	require.NoError(t, err)
	assert.Equal(t, []string{"shutdown 902 --timeout 60", "shutdown 900 --timeout 60", "start 900", "start 902"}, mutating(b))
	assert.Equal(t, []string{engine.StageStop, engine.StageStart}, res.Columns)
}

func TestInspectReportsDriftStraysAndHookStateWithoutChangingAnything(t *testing.T) {
	cfg := exampleConfig()
	hooks := luaHooks(cfg)
	b := builtHost(t, cfg, hooks)
	ctx := context.Background()
	require.NoError(t, b.Set(ctx, 910, []engine.Option{{Key: "memory", Value: "1234"}}, nil))
	require.NoError(t, b.Stop(ctx, 901))
	require.NoError(t, b.Stop(ctx, 950))
	require.NoError(t, b.Destroy(ctx, 950))
	b.Put(905, &memhost.Container{Config: map[string]string{"hostname": "stray"}})
	b.Put(990, &memhost.Container{Config: map[string]string{"hostname": "outside"}})
	hooks.infos[920] = engine.HookInfo{Kind: engine.HookLua, State: engine.HookReady, Digest: "edited"}
	b.ResetCalls()

	rep, err := engine.Inspect(ctx, engine.StatusOptions{Config: cfg, Backend: b, Hooks: hooks})
	require.NoError(t, err)
	assert.Empty(t, b.MutatingCalls(), "status only reads")
	byID := map[int]*engine.ContainerStatus{}
	for _, c := range rep.Containers {
		byID[c.CTID] = c
	}
	assert.Equal(t, engine.StateBuilt, byID[900].State)
	assert.Equal(t, []string{"base-snapshot"}, byID[900].Snapshots)
	assert.Equal(t, engine.HookConverged, byID[900].HookState)
	assert.Equal(t, []engine.Drift{{Key: "memory", Want: "32768", Host: "1234"}}, byID[910].Drift)
	assert.Equal(t, "memory 1234 → 32768", engine.DriftText(byID[910].Drift[0]), "host → config, as the plan")
	assert.Equal(t, engine.StateDrifted, byID[910].State)
	assert.Equal(t, engine.HookUnknown, byID[901].HookState, "a stopped container's marker cannot be read")
	assert.False(t, byID[901].Running)
	assert.Equal(t, engine.HookChanged, byID[920].HookState, "the hook was edited since it ran")
	assert.Equal(t, engine.StateDrifted, byID[920].State)
	assert.Equal(t, engine.StateMissing, byID[950].State)
	require.Len(t, rep.Strays, 1, "990 is outside the config's range 900-950")
	assert.Equal(t, 905, rep.Strays[0].CTID)
	assert.False(t, rep.InSync())

	var out bytes.Buffer
	engine.WriteStatus(&out, rep, false)
	assert.Contains(t, out.String(), "DRIFT (HOST → CONFIG)")
	assert.Contains(t, out.String(), "memory 1234 → 32768")
	assert.Contains(t, out.String(), "stray: 905 stray (stopped)")
	assert.Contains(t, out.String(), "out of sync")
}

func TestInspectOfAConvergedDeploymentIsInSyncAndCostsTheseCalls(t *testing.T) {
	cfg := exampleConfig()
	b := builtHost(t, cfg, luaHooks(cfg))
	rep, err := engine.Inspect(context.Background(), engine.StatusOptions{Config: cfg, Backend: b, Hooks: luaHooks(cfg)})
	require.NoError(t, err)
	assert.True(t, rep.InSync())
	count := map[string]int{}
	for _, c := range b.Calls() {
		count[c.Op]++
	}
	n := len(cfg.Containers)
	// One list for all; per container its config, its snapshots (memhost
	// has no conf file to read them from) and one batched probe reading
	// its hook marker.
	assert.Equal(t, map[string]int{"list": 1, "config": n, "listsnapshot": n, "exec": n}, count)
	for _, c := range b.Calls() {
		if c.Op == "exec" {
			assert.True(t, c.Probe, "%q", c.Argv)
			assert.Contains(t, c.Argv[len(c.Argv)-1], "# phoenix:probe-batch\n", "%q", c.Argv)
		}
	}
}

func TestInspectSaysAHookThatNeverCompletedAndAMissingTemplateSnapshotFailed(t *testing.T) {
	cfg := exampleConfig()
	b := builtHost(t, cfg, nil) // no hooks ran: no markers
	c900 := b.Get(900)
	c900.Snapshots = nil
	b.Put(900, c900)
	rep, err := engine.Inspect(context.Background(), engine.StatusOptions{Config: cfg, Backend: b, Hooks: luaHooks(cfg), CTIDs: []int{900, 910}})
	require.NoError(t, err)
	require.Len(t, rep.Containers, 2)
	assert.Equal(t, "base-snapshot", rep.Containers[0].MissingSnapshot)
	assert.Equal(t, engine.StateFailed, rep.Containers[0].State)
	assert.Equal(t, engine.HookNotRun, rep.Containers[1].HookState)
	assert.Equal(t, engine.StateFailed, rep.Containers[1].State)
}

func TestPlanDestroyRefusesToLeaveAClonedOrDependentContainerBehind(t *testing.T) {
	cfg := exampleConfig()
	cfg.Containers[950].Dependencies = []int{910}
	b := builtHost(t, cfg, nil)
	ctx := context.Background()
	_, err := engine.PlanDestroy(ctx, lifecycleOpts(cfg, b, 902, 910))
	require.Error(t, err)
	assert.Equal(t, engine.ExitUsage, engine.ExitCode(err))
	assert.Contains(t, err.Error(), "refusing to destroy 910 Portainer: 950 vllmQwen3Coder (depends on it) would remain")
	assert.NotContains(t, err.Error(), "refusing to destroy 902", "its clone 910 goes in the same call")

	_, err = engine.PlanDestroy(ctx, lifecycleOpts(cfg, b, 900))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "901 BaseTemplateGPU (cloned from it), 902 BaseTemplateDocker (cloned from it)")
	assert.Contains(t, err.Error(), "add --ctid 901 --ctid 902")
	assert.Contains(t, err.Error(), "linked clones must go before it")
	assert.Contains(t, err.Error(), "nothing was changed")
	assert.Empty(t, b.MutatingCalls())

	// A dependent that is not on the host does not hold anything back.
	require.NoError(t, b.Stop(ctx, 950))
	require.NoError(t, b.Destroy(ctx, 950))
	p, err := engine.PlanDestroy(ctx, lifecycleOpts(cfg, b, 920, 910, 902, 901))
	require.NoError(t, err)
	assert.Equal(t, []int{920, 910, 902, 901}, p.Order, "clones before their sources")
}

func TestDestroyStopsThenPurgesClonesFirstAndRemovesTheFirewallFile(t *testing.T) {
	cfg := exampleConfig()
	b := builtHost(t, cfg, nil)
	ctx := context.Background()
	require.NoError(t, b.WritePVEFile(ctx, 910, "firewall/910.fw", []byte("[OPTIONS]\nenable: 1\n")))
	b.ResetCalls()
	o := lifecycleOpts(cfg, b, 902, 910)

	// Dry-run: the same plan, no call made, the file left.
	rec := dryrun.New(b)
	do := o
	do.Backend, do.DryRun = rec, true
	p, err := engine.PlanDestroy(ctx, do)
	require.NoError(t, err)
	res, err := engine.Destroy(ctx, do, p)
	require.NoError(t, err)
	assert.Empty(t, b.MutatingCalls())
	_, kept := b.PVEFile("firewall/910.fw")
	assert.True(t, kept)
	var plan bytes.Buffer
	engine.WritePlan(&plan, res, engine.PlanOptions{})
	assert.Contains(t, plan.String(), "pct destroy 910 --purge 1")
	assert.Contains(t, plan.String(), "on the host: rm -f /etc/pve/firewall/910.fw")

	p, err = engine.PlanDestroy(ctx, o)
	require.NoError(t, err)
	res, err = engine.Destroy(ctx, o, p)
	require.NoError(t, err)
	assert.Equal(t, engine.ExitOK, res.ExitCode())
	assert.Equal(t, []string{"shutdown 910 --timeout 60", "destroy 910 --purge 1", "# on the host: rm -f /etc/pve/firewall/910.fw",
		"shutdown 902 --timeout 60", "destroy 902 --purge 1"}, mutating(b))
	_, kept = b.PVEFile("firewall/910.fw")
	assert.False(t, kept)
	assert.Nil(t, b.Get(910))
	assert.NotNil(t, b.Get(900), "only the named containers go")

	// Again: both already gone, nothing done.
	b.ResetCalls()
	p, err = engine.PlanDestroy(ctx, o)
	require.NoError(t, err)
	res, err = engine.Destroy(ctx, o, p)
	require.NoError(t, err)
	assert.Empty(t, mutating(b))
	assert.Equal(t, "already gone", stageOf(res.Containers[0], engine.StageDestroy).Detail)
}

func TestDestroyKeepsTheSourceOfAContainerItFailedToDestroy(t *testing.T) {
	cfg := exampleConfig()
	b := builtHost(t, cfg, nil)
	b.Fail = func(op string, ctid int, _ []string) error {
		if op == "destroy" && ctid == 910 {
			return pve.Refuse(pve.MsgLinkedClones("local:base-910-disk-0"))
		}
		return nil
	}
	o := lifecycleOpts(cfg, b, 902, 910)
	p, err := engine.PlanDestroy(context.Background(), o)
	require.NoError(t, err)
	res, err := engine.Destroy(context.Background(), o, p)
	require.NoError(t, err)
	assert.Equal(t, engine.StageFailed, container(t, res, 910).State)
	assert.ErrorContains(t, container(t, res, 910).Err, "destroy the template's linked clones first")
	assert.Equal(t, engine.StageSkipped, container(t, res, 902).State)
	assert.Equal(t, "910 was not destroyed", container(t, res, 902).Reason)
	assert.NotNil(t, b.Get(902))
	assert.Equal(t, engine.ExitFailed, res.ExitCode())
}

func TestGraphDrawsClonesWithTheirSnapshotDependenciesHooksAndState(t *testing.T) {
	cfg := exampleConfig()
	cfg.Containers[950].Dependencies = []int{910}
	cfg.Containers[910].Hostname = `Port"ainer`
	hooks := luaHooks(cfg)
	hooks.infos[910] = engine.HookInfo{Kind: engine.HookShell, State: engine.HookReady}
	status := &engine.StatusReport{Containers: []*engine.ContainerStatus{{CTID: 900, State: engine.StateBuilt}, {CTID: 950, State: engine.StateMissing}}}
	g := engine.BuildGraph(cfg, hooks, status)

	var m bytes.Buffer
	engine.WriteMermaid(&m, g)
	for _, want := range []string{
		"flowchart LR\n",
		`ct900[["900 BaseTemplate<br/>template · lua hook · built"]]`,
		`ct910["910 Port#quot;ainer<br/>sh hook"]`,
		"ct900 -->|base-snapshot| ct902",
		"ct920 -->|vllm-base-snapshot| ct950",
		"ct910 -.->|dependency| ct950",
		"class ct950 missing",
	} {
		assert.Contains(t, m.String(), want)
	}

	var d bytes.Buffer
	engine.WriteDOT(&d, g)
	for _, want := range []string{
		"digraph phoenix {",
		`ct910 [label="910 Port\"ainer\nsh hook"];`,
		`ct900 -> ct902 [label="base-snapshot"];`,
		`ct910 -> ct950 [style=dashed, label="dependency"];`,
		`fillcolor="#e2e3e5"`,
	} {
		assert.Contains(t, d.String(), want)
	}
}

// BenchmarkStatusExample reads the built example deployment with a backend
// taking 50ms per call (pct costs about 0.4s): the wall time against the
// calls made one after another. memhost has no conf file, so its 22 calls
// are 1 list + 7 × (config, listsnapshot, one batched probe of all the
// container's markers); the pct backend reading <PVEDir>/lxc/<CTID>.conf
// makes 1 + 7 (status.txtar): 22 calls, 1.1 serial-s, 0.35 wall-s.
func BenchmarkStatusExample(b *testing.B) {
	const perCall = 50 * time.Millisecond
	cfg, err := config.Load("../examples/phoenix_hypervisor_config.json", "../examples/phoenix_lxc_configs.json")
	if err != nil {
		b.Fatalf("load examples/: %v", err)
	}
	host := newHost()
	hooks := luaHooks(cfg)
	if res, err := engine.Run(context.Background(), engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks}); err != nil || res.ExitCode() != engine.ExitOK {
		b.Fatalf("run: %v", err)
	}
	host.Delay = perCall
	for i := 0; i < b.N; i++ {
		host.ResetCalls()
		start := time.Now()
		rep, err := engine.Inspect(context.Background(), engine.StatusOptions{Config: cfg, Backend: host, Hooks: hooks})
		wall := time.Since(start)
		if err != nil || !rep.InSync() {
			b.Fatalf("status: %v", err)
		}
		calls := len(host.Calls())
		b.ReportMetric(float64(calls), "calls")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric((time.Duration(calls) * perCall).Seconds(), "serial-s")
	}
}

func TestStartOrderOfTheV08ReferenceConfigFollowsItsBootOrder(t *testing.T) {
	dir := "config/testdata/original-configs/v08_ti_dade01c_2025-09-22/"
	cfg, err := config.Load(dir+"phoenix_hypervisor_config.json", dir+"phoenix_lxc_configs.json")
	require.NoError(t, err)
	var all []int
	for id := range cfg.Containers {
		all = append(all, id)
	}
	order, err := engine.StartOrder(cfg, all)
	require.NoError(t, err)
	// The templates (boot_order 0) first, then 953 (1) that most depend on,
	// 955 and 957 (2), the order-3 ones (956 after 955, which it depends
	// on), and 910 (4) last.
	assert.Equal(t, []int{900, 901, 902, 920, 953, 955, 957, 950, 951, 952, 954, 956, 910}, order)
	delay := engine.BootDelay(cfg.Containers[953])
	assert.Equal(t, 5*time.Second, delay)
}

func TestInspectReadsTheMarkersOfFeatureHooksAndTheApplicationScript(t *testing.T) {
	ct := scriptContainer()
	ct.Later.HealthCheck = nil
	cfg := oneConfig(ct)
	cfg.LXCFile = filepath.Join(writeFiles(t, map[string]string{"phoenix_lxc_configs.json": "{}"}), "phoenix_lxc_configs.json")
	dir := writeFiles(t, map[string]string{
		"phoenix_hypervisor_feature_install_web.lua":       "-- web",
		"phoenix_hypervisor_feature_install_base_setup.sh": "#!/bin/sh\n",
		"phoenix_hypervisor_lxc_960.sh":                    "#!/bin/bash\necho app\n",
	})
	hooks := &fileHooks{stubHooks: *luaHooks(cfg), dir: dir}
	host := newHost()
	require.Equal(t, engine.ExitOK, run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks}).ExitCode())
	// markers: how many markers the one batched probe reads.
	inspect := func(markers int) *engine.ContainerStatus {
		host.ResetCalls()
		rep, err := engine.Inspect(context.Background(), engine.StatusOptions{Config: cfg, Backend: host, Hooks: hooks})
		require.NoError(t, err)
		assert.Empty(t, host.MutatingCalls())
		// Its markers (two feature hooks, the application script when it
		// is there, the hook) are read in one batched probe.
		var execs []string
		for _, c := range host.Calls() {
			if c.Op == "exec" {
				execs = append(execs, c.Argv[len(c.Argv)-1])
			}
		}
		require.Len(t, execs, 1)
		assert.Equal(t, markers, strings.Count(execs[0], "\n# probe "), execs[0])
		return rep.Containers[0]
	}

	cs := inspect(4)
	assert.Equal(t, []engine.ScriptStatus{
		{Name: "phoenix_hypervisor_feature_install_base_setup.sh", State: engine.HookConverged},
		{Name: "phoenix_hypervisor_feature_install_web.lua", State: engine.HookConverged},
		{Name: "phoenix_hypervisor_lxc_960.sh", State: engine.HookConverged},
	}, stripInfo(cs.Scripts))
	assert.Equal(t, engine.StateBuilt, cs.State)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "phoenix_hypervisor_lxc_960.sh"), []byte("#!/bin/bash\necho v2\n"), 0o644))
	cs = inspect(4)
	assert.Equal(t, engine.HookChanged, cs.Scripts[2].State)
	assert.Equal(t, engine.StateDrifted, cs.State)

	require.NoError(t, os.Remove(filepath.Join(dir, "phoenix_hypervisor_lxc_960.sh")))
	cs = inspect(3)
	assert.Equal(t, "missing", cs.Scripts[2].State)
	assert.Equal(t, engine.StateFailed, cs.State)
}

// stripInfo keeps what a ScriptStatus says (its unexported HookInfo aside).
func stripInfo(in []engine.ScriptStatus) []engine.ScriptStatus {
	out := make([]engine.ScriptStatus, len(in))
	for i, s := range in {
		out[i] = engine.ScriptStatus{Name: s.Name, State: s.State}
	}
	return out
}
