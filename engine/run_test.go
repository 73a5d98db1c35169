package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// firstLines shortens each multi-line argv (install scripts) to its first line.
func firstLines(argvs []string) []string {
	out := make([]string, len(argvs))
	for i, a := range argvs {
		out[i], _, _ = strings.Cut(a, "\n")
	}
	return out
}

func stageStates(c *engine.ContainerResult) map[string]string {
	m := map[string]string{}
	for _, s := range c.Stages {
		m[s.Stage] = s.State
	}
	return m
}

func TestRunProvisionsExampleStack(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	hooks := luaHooks(cfg)
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})

	require.Equal(t, engine.ExitOK, res.ExitCode(), "%+v", res.Containers)
	order := []int{}
	for _, c := range res.Containers {
		order = append(order, c.CTID)
		assert.Equal(t, engine.StageDone, c.State, "%d: %v", c.CTID, c.Err)
	}
	assert.Equal(t, []int{900, 901, 902, 910, 920, 950}, order, "results in plan order")
	assert.ElementsMatch(t, []int{900, 901, 902, 910, 920, 950}, hooks.Ran())

	// 900: created from the OS template, snapshot taken after its hook.
	assert.Equal(t, []string{
		"create 900 " + ubuntu + " --hostname BaseTemplate --memory 2048 --cores 2 --rootfs lxc-disks:32" +
			" --net0 name=eth0,bridge=vmbr0,ip=10.0.0.200/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC --unprivileged 1" +
			" --description phoenix: created from " + ubuntu,
	}, mutatingArgv(host, 900, "create"))
	assert.Equal(t, map[string]string{"create": "done", "configure": "already done", "start": "done", "hook": "done", "template": "done"},
		stageStates(container(t, res, 900)))
	assert.Equal(t, []string{"exec 900 -- mkdir -p /etc/phoenix", "push 900 <content> /etc/phoenix/template-900.sha256 --perms 0644",
		"shutdown 900 --timeout 60", "snapshot 900 base-snapshot", "start 900"}, mutatingArgv(host, 900, "template"))

	// 901: cloned from 900's snapshot, re-addressed, GPU passthrough + driver.
	assert.Equal(t, []string{"clone 900 901 --snapname base-snapshot --hostname BaseTemplateGPU --description phoenix: cloned from 900@base-snapshot"}, mutatingArgv(host, 901, "clone"))
	assert.Equal(t, []string{"set 901 --net0 name=eth0,bridge=vmbr0,ip=10.0.0.201/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CD"},
		mutatingArgv(host, 901, "configure"))
	assert.Equal(t, []string{
		"set 901 --dev0 /dev/nvidia0 --dev1 /dev/nvidia1 --dev2 /dev/nvidiactl --dev3 /dev/nvidia-uvm --dev4 /dev/nvidia-uvm-tools --dev5 /dev/nvidia-modeset",
		"shutdown 901 --timeout 60",
		"start 901",
		"exec 901 -- sh -c # phoenix:install-nvidia " + testDriver,
	}, firstLines(mutatingArgv(host, 901, "nvidia")))
	nv := stageOf(container(t, res, 901), "nvidia")
	require.NotNil(t, nv)
	assert.Contains(t, nv.Detail, "restarted")
	assert.Contains(t, nv.Detail, "driver "+testDriver+" installed")

	// 902: Docker template gets keyctl with nesting before it first starts.
	assert.Equal(t, []string{"set 902 --net0 name=eth0,bridge=vmbr0,ip=10.0.0.202/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CE --features keyctl=1,nesting=1"},
		mutatingArgv(host, 902, "configure"))
	assert.Equal(t, []string{"exec 902 -- sh -c # phoenix:install-docker"}, firstLines(mutatingArgv(host, 902, "docker")))

	// 910: a clone of the Docker template has Docker: only Portainer runs.
	assert.Equal(t, []string{"exec 910 -- docker run -d --name portainer --restart=always -p 9443:9443" +
		" -v /var/run/docker.sock:/var/run/docker.sock -v portainer_data:/data portainer/portainer-ce:latest"},
		mutatingArgv(host, 910, "docker"))

	// 920: GPU + Docker: its clone source (901) has the driver, not Docker.
	assert.Empty(t, mutatingArgv(host, 920, "nvidia"), "passthrough and driver come with the clone")
	assert.Equal(t, []string{"exec 920 -- sh -c # phoenix:install-docker", "exec 920 -- sh -c # phoenix:install-nvidia-toolkit"},
		firstLines(mutatingArgv(host, 920, "docker")))
	// 950: a clone of 920 has it all; only its own settings and hook.
	assert.Empty(t, mutatingArgv(host, 950, "docker"))
	assert.Equal(t, []string{"feature vllm: no built-in stage and no feature hook"}, container(t, res, 920).Notes)

	// the hook marker is written after each successful hook run
	got := host.Get(950)
	require.NotNil(t, got)
	marker := string(got.Files["/etc/phoenix/hook-950.sha256"])
	assert.Equal(t, engine.HookFingerprint(cfg, cfg.Containers[950], "d950")+"\n", marker)
	assert.True(t, got.Running)
}

func TestRunConvergedMakesNoMutatingCall(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	hooks := luaHooks(cfg)
	first := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	require.Equal(t, engine.ExitOK, first.ExitCode())
	require.Len(t, hooks.Ran(), 6)

	host.ResetCalls()
	second := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	require.Equal(t, engine.ExitOK, second.ExitCode())
	assert.Empty(t, host.MutatingCalls(), "a converged re-run changes nothing")
	assert.Len(t, hooks.Ran(), 6, "no hook ran again")
	for _, c := range second.Containers {
		assert.Empty(t, c.Actions, "%d", c.CTID)
		for _, s := range c.Stages {
			assert.Equal(t, engine.StageAlready, s.State, "%d %s: %s", c.CTID, s.Stage, s.Detail)
		}
	}
	assert.Equal(t, "exists: skip", stageOf(container(t, second, 901), "clone").Detail)

	// A changed hook runs again, on that container only.
	hooks.infos[950] = engine.HookInfo{Kind: engine.HookLua, Path: "/hooks/phoenix_hypervisor_setup_950.lua", State: engine.HookReady, Digest: "changed"}
	host.ResetCalls()
	third := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	require.Equal(t, engine.ExitOK, third.ExitCode())
	assert.Equal(t, []int{950}, hooks.Ran()[6:])
	assert.Equal(t, []string{"exec 950 -- mkdir -p /etc/phoenix", "push 950 <content> /etc/phoenix/hook-950.sha256 --perms 0644"},
		mutatingArgv(host, 950, ""))

	// A changed container entry too.
	cfg.Containers[910].Raw["vllm_model"] = "x"
	run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	assert.Equal(t, []int{910}, hooks.Ran()[7:])

	// --force runs every hook.
	run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, Force: true})
	assert.Len(t, hooks.Ran(), 14)
}

func TestRunFailureSkipsDependentsNotSiblings(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	host.Fail = func(op string, ctid int, argv []string) error {
		if op == "clone" && ctid == 901 {
			return fmt.Errorf("unable to create CT 901 - storage lxc-disks full")
		}
		return nil
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	assert.Equal(t, engine.ExitFailed, res.ExitCode())

	c901 := container(t, res, 901)
	assert.Equal(t, engine.StageFailed, c901.State)
	require.Error(t, c901.Err)
	assert.Contains(t, c901.Err.Error(), "clone: pct clone 900 901: unable to create CT 901 - storage lxc-disks full")
	assert.Equal(t, engine.StageFailed, stageOf(c901, "clone").State)

	for _, id := range []int{920, 950} {
		c := container(t, res, id)
		assert.Equal(t, engine.StageSkipped, c.State, "%d", id)
		assert.Equal(t, "depends on 901", c.Reason, "%d", id)
		assert.Empty(t, mutatingArgv(host, id, ""), "%d never touched", id)
	}
	for _, id := range []int{900, 902, 910} {
		assert.Equal(t, engine.StageDone, container(t, res, id).State, "sibling %d goes on", id)
	}
}

func TestRunFailFast(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	host.Fail = func(op string, ctid int, argv []string) error {
		if op == "clone" && ctid == 901 {
			return errBoom
		}
		return nil
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, FailFast: true, Parallel: 1})
	assert.Equal(t, engine.ExitFailed, res.ExitCode())
	assert.Equal(t, engine.StageDone, container(t, res, 900).State)
	assert.Equal(t, engine.StageFailed, container(t, res, 901).State)
	for id, reason := range map[int]string{902: "fail-fast", 910: "fail-fast", 920: "depends on 901", 950: "depends on 901"} {
		c := container(t, res, id)
		assert.Equal(t, engine.StageSkipped, c.State, "%d", id)
		assert.Equal(t, reason, c.Reason, "%d", id)
		assert.Empty(t, mutatingArgv(host, id, ""), "%d", id)
	}
	assert.Contains(t, strings.Join(res.Notes, "\n"), "fail-fast: stopped after container 901 failed")
}

func TestRunFailFastStopsRunningContainersBetweenStages(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	// Ordered by channels, and outside the clones: 901 and 902 are both
	// clones of 900, so a fake clone that waited for 902 would hold 900's
	// clone token while 902 waits for that token (the run hung).
	in902, failed901 := make(chan struct{}), make(chan struct{})
	var once902, once901 sync.Once
	host.Fail = func(op string, ctid int, argv []string) error {
		switch {
		case op == "config" && ctid == 901:
			<-in902 // 902 is in its configure stage
			return errBoom
		case op == "config" && ctid == 902:
			once902.Do(func() { close(in902) })
			<-failed901 // 902's stage ends after 901 failed
		}
		return nil
	}
	events := engine.SinkFunc(func(e engine.Event) {
		if e.Kind == engine.EventStage && e.CTID == 901 && e.State == engine.StageFailed {
			once901.Do(func() { close(failed901) })
		}
	})
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, FailFast: true, Parallel: 2, Events: events})
	assert.Equal(t, engine.StageFailed, stageOf(container(t, res, 901), "configure").State)
	c902 := container(t, res, 902)
	assert.Equal(t, engine.StageSkipped, c902.State)
	assert.Equal(t, "fail-fast", c902.Reason)
	assert.Equal(t, engine.StageDone, stageOf(c902, "configure").State, "the running stage ends")
	assert.Nil(t, stageOf(c902, "start"), "no stage starts after the failure")
	assert.Equal(t, "fail-fast", container(t, res, 910).Reason)
}

func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	host.Fail = func(op string, ctid int, argv []string) error {
		if op == "clone" && ctid == 901 {
			cancel() // Ctrl-C while 901 is being cloned
			return context.Canceled
		}
		return nil
	}
	res, err := engine.Run(ctx, engine.RunOptions{Config: cfg, Backend: host, Parallel: 1})
	require.NoError(t, err)
	assert.True(t, res.Interrupted)
	assert.Equal(t, engine.ExitInterrupted, res.ExitCode())

	c901 := container(t, res, 901)
	assert.Equal(t, engine.StageFailed, c901.State)
	assert.Equal(t, "interrupted", stageOf(c901, "clone").Detail)
	for _, id := range []int{902, 910, 920, 950} {
		c := container(t, res, id)
		assert.Equal(t, engine.StageSkipped, c.State, "%d", id)
		assert.Equal(t, "interrupted", c.Reason, "%d", id)
	}
	assert.Equal(t, engine.StageDone, container(t, res, 900).State)

	var buf strings.Builder
	engine.WriteSummary(&buf, res, false)
	assert.Contains(t, buf.String(), "(interrupted)")
}

func TestRunCTIDSkipsBuiltDependencies(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	host.Put(900, &memhost.Container{Config: map[string]string{"hostname": "BaseTemplate"}, Snapshots: []string{"base-snapshot"}})

	res := run(t, engine.RunOptions{Config: cfg, Backend: host, CTIDs: []int{950}})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	var ids []int
	for _, c := range res.Containers {
		ids = append(ids, c.CTID)
	}
	assert.Equal(t, []int{900, 901, 920, 950}, ids)

	c900 := container(t, res, 900)
	assert.Equal(t, engine.StageDone, c900.State)
	assert.Equal(t, "built: not requested", c900.Reason)
	assert.Empty(t, c900.Stages)
	assert.Empty(t, mutatingArgv(host, 900, ""), "a built dependency is left alone")
	assert.False(t, host.Get(900).Running)

	for _, id := range []int{901, 920, 950} {
		c := container(t, res, id)
		assert.Empty(t, c.Reason, "%d", id)
		assert.Equal(t, engine.StageDone, stageOf(c, "clone").State, "%d runs fully", id)
	}
	assert.Nil(t, host.Get(902), "902 is not in the plan")
}

func TestRunCTIDBuildsUnbuiltDependency(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	// 900 exists but lacks its template snapshot: not built.
	host.Put(900, &memhost.Container{Config: map[string]string{"hostname": "BaseTemplate"}})
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, CTIDs: []int{901}})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	c900 := container(t, res, 900)
	assert.Empty(t, c900.Reason)
	assert.Equal(t, engine.StageAlready, stageOf(c900, "create").State)
	assert.Equal(t, engine.StageDone, stageOf(c900, "template").State)
	assert.Contains(t, host.Get(900).Snapshots, "base-snapshot")
}

// overlapDetector fails the run's calls when one container has two
// operations at once, and measures how many containers were busy at once.
type overlapDetector struct {
	mu       sync.Mutex
	busy     map[int]int
	overlaps []string
	maxBusy  int
}

func (d *overlapDetector) fail(op string, ctid int, argv []string) error {
	d.mu.Lock()
	d.busy[ctid]++
	if d.busy[ctid] > 1 {
		d.overlaps = append(d.overlaps, fmt.Sprintf("%d: %s during another call", ctid, op))
	}
	d.maxBusy = max(d.maxBusy, len(d.busy))
	d.mu.Unlock()
	time.Sleep(time.Millisecond)
	d.mu.Lock()
	d.busy[ctid]--
	if d.busy[ctid] == 0 {
		delete(d.busy, ctid)
	}
	d.mu.Unlock()
	return nil
}

func TestRunNeverOverlapsOperationsOnOneContainer(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	// widen the DAG: ten independent clones of 902
	for i := 0; i < 10; i++ {
		id := 930 + i
		cfg.Containers[id] = &engine.Container{CTID: id, Hostname: fmt.Sprintf("w%d", i), CloneFrom: 902, MemoryMB: 512, Cores: 1, PctFeatures: map[string]string{"nesting": "1"}, PortainerRole: "agent"}
	}
	host := newHost()
	d := &overlapDetector{busy: map[int]int{}}
	host.Fail = d.fail
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: luaHooks(cfg), Parallel: 3})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	assert.Empty(t, d.overlaps)
	assert.LessOrEqual(t, d.maxBusy, 3, "at most --parallel containers at once")
	assert.GreaterOrEqual(t, d.maxBusy, 2, "independent containers did run in parallel")
}

func TestRunIsDAGDrivenNotLevelByLevel(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	// 901 is slow; 902 → 910 must not wait for it.
	host.Fail = func(op string, ctid int, argv []string) error {
		if ctid == 901 {
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}
	ev := &events{}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Events: ev})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	var done901, started910 time.Time
	for _, e := range ev.Of(engine.EventStage) {
		if e.CTID == 901 && e.Stage == "template" && e.State == engine.StageDone {
			done901 = e.Time
		}
		if e.CTID == 910 && e.Stage == "clone" && e.State == engine.StageRunning {
			started910 = e.Time
		}
	}
	require.False(t, done901.IsZero())
	require.False(t, started910.IsZero())
	assert.True(t, started910.Before(done901), "910 (level 2) started before 901 (level 1) finished")
}

func TestRunHookAmbiguousFailsBeforeAnyAction(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	hooks := luaHooks(cfg)
	hooks.infos[902] = engine.HookInfo{Kind: engine.HookLua, State: engine.HookAmbiguous,
		Path:    "/hooks/phoenix_hypervisor_setup_902.lua and /hooks/phoenix_hypervisor_setup_902.sh",
		Problem: "two hooks for 902: /hooks/phoenix_hypervisor_setup_902.lua and /hooks/phoenix_hypervisor_setup_902.sh: remove one"}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	c := container(t, res, 902)
	assert.Equal(t, engine.StageFailed, c.State)
	assert.EqualError(t, c.Err, hooks.infos[902].Problem)
	assert.Empty(t, c.Stages)
	for _, call := range host.Calls() {
		assert.NotEqual(t, 902, call.Origin.CTID, "no call for 902: %v", call.Argv)
	}
	assert.Equal(t, "depends on 902", container(t, res, 910).Reason)
	assert.Equal(t, engine.StageDone, container(t, res, 950).State)
}

func TestRunHookStage(t *testing.T) {
	t.Parallel()
	ct := exampleConfig().Containers[900]
	ct.IsTemplate, ct.TemplateSnapshot = false, ""
	tests := []struct {
		name       string
		info       engine.HookInfo
		hookErr    error
		wantState  string
		wantDetail string
		wantRan    bool
	}{
		{name: "no hook", info: engine.HookInfo{}, wantState: engine.StageSkipped, wantDetail: "no hook"},
		{
			// It fails its container: a green run would leave it without its set-up.
			name:      "not executable",
			info:      engine.HookInfo{Kind: engine.HookShell, Path: "/h/phoenix_hypervisor_setup_900.sh", State: engine.HookNotExecutable, Problem: "/h/phoenix_hypervisor_setup_900.sh is not executable: run chmod +x /h/phoenix_hypervisor_setup_900.sh"},
			wantState: engine.StageFailed, wantDetail: "/h/phoenix_hypervisor_setup_900.sh is not executable: run chmod +x /h/phoenix_hypervisor_setup_900.sh",
		},
		{
			name:      "runs",
			info:      engine.HookInfo{Kind: engine.HookShell, Path: "/h/phoenix_hypervisor_setup_900.sh", State: engine.HookReady, Digest: "x"},
			wantState: engine.StageDone, wantDetail: "phoenix_hypervisor_setup_900.sh ran", wantRan: true,
		},
		{
			name:      "listed, not run",
			info:      engine.HookInfo{Kind: engine.HookShell, Path: "/h/phoenix_hypervisor_setup_900.sh", State: engine.HookReady, Digest: "x"},
			hookErr:   fmt.Errorf("dry-run: hook /h/phoenix_hypervisor_setup_900.sh listed, not run: %w: not running as root", engine.ErrHookNotRun),
			wantState: engine.StageSkipped, wantDetail: "dry-run: hook /h/phoenix_hypervisor_setup_900.sh listed, not run: hook not run: not running as root", wantRan: true,
		},
		{
			name:      "fails",
			info:      engine.HookInfo{Kind: engine.HookLua, Path: "/h/phoenix_hypervisor_setup_900.lua", State: engine.HookReady, Digest: "x"},
			hookErr:   fmt.Errorf("phoenix_hypervisor_setup_900.lua:12: boom"),
			wantState: engine.StageFailed, wantDetail: "phoenix_hypervisor_setup_900.lua:12: boom", wantRan: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := oneConfig(ct)
			host := newHost()
			hooks := &stubHooks{infos: map[int]engine.HookInfo{900: tt.info}, fail: map[int]error{900: tt.hookErr}}
			ev := &events{}
			res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, Events: ev, HookTimeout: 7 * time.Minute, LogFile: "/tmp/x.log"})
			s := stageOf(container(t, res, 900), "hook")
			require.NotNil(t, s)
			assert.Equal(t, tt.wantState, s.State)
			assert.Equal(t, tt.wantDetail, s.Detail)
			assert.Equal(t, tt.wantRan, len(hooks.Ran()) == 1)
			marker := host.Get(900).Files[engine.HookMarker(900)]
			if tt.wantState == engine.StageDone {
				assert.NotEmpty(t, marker)
				req := hooks.reqs[0]
				assert.Equal(t, 7*time.Minute, req.Timeout)
				assert.Equal(t, "/tmp/x.log", req.LogFile)
				assert.Equal(t, cfg, req.Config)
			} else {
				assert.Empty(t, marker, "no marker unless the hook succeeded")
			}
			if tt.info.State == engine.HookNotExecutable {
				assert.Equal(t, engine.StageFailed, container(t, res, 900).State)
				var buf strings.Builder
				engine.WriteSummary(&buf, res, false)
				assert.Contains(t, buf.String(), "chmod +x")
			}
		})
	}
}

func TestRunHookTimeoutOfContainerOverrides(t *testing.T) {
	t.Parallel()
	ct := exampleConfig().Containers[900]
	ct.HookTimeout = 3 * time.Second
	cfg := oneConfig(ct)
	host := newHost()
	hooks := luaHooks(cfg)
	run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, HookTimeout: time.Hour})
	require.Len(t, hooks.reqs, 1)
	assert.Equal(t, 3*time.Second, hooks.reqs[0].Timeout)
}

func TestRunCollectsHookActionsWithSource(t *testing.T) {
	t.Parallel()
	ct := exampleConfig().Containers[900]
	cfg := oneConfig(ct)
	host := newHost()
	hooks := luaHooks(cfg)
	hooks.act = func(ctx context.Context, req engine.HookRequest) error {
		hctx := engine.WithOrigin(ctx, engine.Origin{CTID: 900, Stage: "hook", Source: "phoenix_hypervisor_setup_900.lua:12"})
		if _, err := req.Backend.Exec(hctx, 900, []string{"apt-get", "install", "-y", "jq"}, engine.ExecOptions{}); err != nil {
			return err
		}
		req.Events.Emit(engine.Event{Kind: engine.EventAction, Argv: []string{"qm", "list"}, Stage: "hook", Source: "x.sh"})
		return nil
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	var hookActions []string
	for _, a := range container(t, res, 900).Actions {
		if a.Stage == "hook" {
			hookActions = append(hookActions, engine.FormatAction(a))
		}
	}
	assert.Equal(t, []string{
		"pct exec 900 -- apt-get install -y jq    # phoenix_hypervisor_setup_900.lua:12",
		"qm list    # x.sh",
		"pct exec 900 -- mkdir -p /etc/phoenix",
		"pct push 900 '<content>' /etc/phoenix/hook-900.sha256 --perms 0644",
	}, hookActions)
}

func TestRunStartWaitTimesOut(t *testing.T) {
	t.Parallel()
	ct := exampleConfig().Containers[900]
	cfg := oneConfig(ct)
	host := newHost()
	host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		return engine.ExecResult{Code: 1}, true // never answers
	}
	start := time.Now()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, StartTimeout: 400 * time.Millisecond})
	assert.Less(t, time.Since(start), 30*time.Second, "stopped at the start timeout, not waiting for ever")
	c := container(t, res, 900)
	assert.Equal(t, engine.StageFailed, c.State)
	require.Error(t, c.Err)
	assert.Contains(t, c.Err.Error(), "container 900 was not ready within 400ms (last: pct exec 900 -- true: exit 1)")
	assert.Contains(t, c.Err.Error(), "pct status 900")
	probes := 0
	for _, call := range host.Calls() {
		if call.Op == "exec" && call.Probe {
			probes++
		}
	}
	assert.GreaterOrEqual(t, probes, 2, "it polled")
	assert.LessOrEqual(t, probes, 5, "with backoff")
}

func TestRunStartAlreadyRunning(t *testing.T) {
	t.Parallel()
	ct := exampleConfig().Containers[900]
	ct.IsTemplate, ct.TemplateSnapshot = false, ""
	cfg := oneConfig(ct)
	host := newHost()
	host.Put(900, &memhost.Container{Running: true})
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	s := stageOf(container(t, res, 900), "start")
	assert.Equal(t, engine.StageAlready, s.State)
	assert.Empty(t, mutatingArgv(host, 900, "start"))
}

func TestRunDryRunIsMarked(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, DryRun: true, CTIDs: []int{900}})
	assert.True(t, res.DryRun)
	var buf strings.Builder
	engine.WritePlan(&buf, res, engine.PlanOptions{})
	assert.Contains(t, buf.String(), "Plan (dry-run: nothing is changed)")
	assert.Contains(t, buf.String(), "pct create 900")
}

func TestRunRejectsBadPlan(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	cfg.Containers[900].CloneFrom = 950
	_, err := engine.Run(context.Background(), engine.RunOptions{Config: cfg, Backend: memhost.New()})
	require.ErrorContains(t, err, "dependency cycle")
	_, err = engine.Run(context.Background(), engine.RunOptions{Backend: memhost.New()})
	require.Error(t, err)
}

func TestRunHookOnly(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	hooks := luaHooks(cfg)

	res, err := engine.RunHook(context.Background(), engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks}, 910)
	require.NoError(t, err)
	assert.Equal(t, engine.ExitFailed, res.ExitCode())
	assert.Contains(t, res.Containers[0].Err.Error(), "container 910 does not exist: run `phoenix run --ctid 910` first")

	host.Put(910, &memhost.Container{Running: true})
	res, err = engine.RunHook(context.Background(), engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks}, 910)
	require.NoError(t, err)
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%v", res.Containers[0].Err)
	assert.Equal(t, []int{910}, hooks.Ran())
	require.Len(t, res.Containers[0].Stages, 1)
	assert.Equal(t, engine.StageDone, res.Containers[0].Stages[0].State)

	res, err = engine.RunHook(context.Background(), engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks}, 910)
	require.NoError(t, err)
	assert.Equal(t, engine.StageAlready, res.Containers[0].Stages[0].State, "the marker says converged")

	_, err = engine.RunHook(context.Background(), engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, Force: true}, 910)
	require.NoError(t, err)
	assert.Equal(t, []int{910, 910}, hooks.Ran())

	_, err = engine.RunHook(context.Background(), engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks}, 4242)
	require.ErrorContains(t, err, "container 4242 is not in lxc_configs")
}

// TestRunDryRunDoesNotVerifyRecordedInstalls: a recorder answers every
// probe but `true` with 127 on a planned container, so an install it only
// recorded cannot be verified; the dry-run plan must not fail on it.
func TestRunDryRunDoesNotVerifyRecordedInstalls(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := memhost.New()
	host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		if o.Probe && argv[0] != "true" {
			return engine.ExecResult{Code: 127, Stderr: "planned container: " + argv[0] + " not installed"}, true
		}
		return engine.ExecResult{}, true
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: luaHooks(cfg), DryRun: true})
	for _, c := range res.Containers {
		assert.Equal(t, engine.StageDone, c.State, "%d: %v", c.CTID, c.Err)
	}
	assert.Equal(t, engine.StageDone, stageOf(container(t, res, 950), "nvidia").State)

	// the same answers outside dry-run are a failure: the install did not take
	host2 := memhost.New()
	host2.Exec_ = host.Exec_
	res = run(t, engine.RunOptions{Config: cfg, Backend: host2})
	assert.ErrorContains(t, container(t, res, 901).Err, "driver reports")
}

func TestRunStartsTheLongestChainFirst(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	cfg.Containers[100] = &engine.Container{CTID: 100, Hostname: "a", Template: ubuntu}
	cfg.Containers[105] = &engine.Container{CTID: 105, Hostname: "b", Template: ubuntu}
	host := newHost()
	ev := &events{}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Events: ev, Parallel: 1})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	var started []int
	for _, e := range ev.Of(engine.EventStage) {
		if (e.Stage == "create" || e.Stage == "clone") && e.State == engine.StageRunning {
			started = append(started, e.CTID)
		}
	}
	// 900 heads the longest chain (900 → 901 → 920 → 950); the
	// independent 100 and 105 wait for the chains longer than theirs.
	assert.Equal(t, []int{900, 901, 902, 920, 100, 105, 910, 950}, started)
	var inPlan []int
	for _, c := range res.Containers {
		inPlan = append(inPlan, c.CTID)
	}
	assert.Equal(t, []int{100, 105, 900, 901, 902, 910, 920, 950}, inPlan, "results stay in plan order")
}

// An error of the pct backend already names its command: the stage does
// not say it twice.
func TestRunNamesThePctCommandOnce(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	host.Fail = func(op string, ctid int, argv []string) error {
		if op == "clone" && ctid == 901 {
			return fmt.Errorf("pct clone 900 901: unable to create CT 901 - storage lxc-disks full: exit status 255")
		}
		return nil
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	c901 := container(t, res, 901)
	require.Error(t, c901.Err)
	assert.Equal(t, "clone: pct clone 900 901: unable to create CT 901 - storage lxc-disks full: exit status 255", c901.Err.Error())
}

// Proxmox locks a clone's source until the copy ends ("CT is locked
// (disk)" for a second clone at once): clones of one source never overlap,
// while clones of different sources still run in parallel.
func TestRunClonesOfOneSourceOneAtATime(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	for i := 0; i < 6; i++ { // six more clones of 900 beside 901 and 902
		id := 930 + i
		cfg.Containers[id] = &engine.Container{CTID: id, Hostname: fmt.Sprintf("w%d", i), CloneFrom: 900, MemoryMB: 512, Cores: 1}
	}
	host := newHost()
	var mu sync.Mutex
	cloning := map[string]int{}
	var overlaps []string
	host.Fail = func(op string, ctid int, argv []string) error {
		if op != "clone" {
			return nil
		}
		src := argv[1]
		mu.Lock()
		cloning[src]++
		if cloning[src] > 1 {
			overlaps = append(overlaps, strings.Join(argv, " "))
		}
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		cloning[src]--
		mu.Unlock()
		return nil
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Parallel: 8})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	assert.Empty(t, overlaps, "a clone started while another clone of its source ran")
}

// A clone refused by a lock names its source as the locked container.
func TestRunCloneOfLockedSourceSaysWhichToUnlock(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	host.Fail = func(op string, ctid int, argv []string) error {
		if op == "clone" && ctid == 901 {
			return pve.Refuse(pve.MsgLocked("backup")) // as the pct backend classifies pct's message
		}
		return nil
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	err := container(t, res, 901).Err
	require.Error(t, err)
	assert.Equal(t, "clone: pct clone 900 901: CT is locked (backup): wait for the task holding the lock to finish, or run `pct unlock 900` if the lock is stale", err.Error())
}
