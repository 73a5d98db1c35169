package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunEmitsStageTransitions(t *testing.T) {
	t.Parallel()
	ct := plain()
	cfg := oneConfig(ct)
	host := newHost()
	ev := &events{}
	run(t, engine.RunOptions{Config: cfg, Backend: host, Events: ev})
	var got []string
	for _, e := range ev.Of(engine.EventStage) {
		assert.Equal(t, 900, e.CTID)
		assert.False(t, e.Time.IsZero())
		got = append(got, e.Stage+" "+e.State)
	}
	assert.Equal(t, []string{
		"create running", "create done",
		"configure running", "configure already done",
		"start running", "start done",
		"hook running", "hook skipped",
	}, got)
	var actions []string
	for _, e := range ev.Of(engine.EventAction) {
		actions = append(actions, e.Stage+": "+engine.FormatAction(e))
	}
	assert.Equal(t, []string{"create: pct create 900 " + ubuntu + " --hostname BaseTemplate --memory 2048 --cores 2 --rootfs lxc-disks:32 --net0 name=eth0,bridge=vmbr0,ip=10.0.0.200/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC --unprivileged 1 --description 'phoenix: created from " + ubuntu + "'",
		"start: pct start 900"}, actions, "actions reach the run's sink as they happen")
	logs := ev.Of(engine.EventLog)
	require.NotEmpty(t, logs)
	assert.Contains(t, logs[len(logs)-1].Message, "done in")
}

func TestRunStreamsInstallOutput(t *testing.T) {
	t.Parallel()
	ct := plain()
	ct.Named = []string{"docker"}
	cfg := oneConfig(ct)
	host := newHost()
	host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		if argv[0] == "sh" && o.Stdout != nil {
			_, _ = o.Stdout.Write([]byte("Get:1 http://archive.ubuntu.com noble InRelease\nSetting up do"))
			_, _ = o.Stdout.Write([]byte("cker-ce ...\r\n"))
			_, _ = o.Stderr.Write([]byte("debconf: delaying package configuration"))
		}
		return engine.ExecResult{}, false // then the install runs in the model
	}
	ev := &events{}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Events: ev})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	var lines []string
	for _, e := range ev.Of(engine.EventOutput) {
		assert.Equal(t, 900, e.CTID)
		assert.Equal(t, "docker", e.Stage)
		lines = append(lines, e.Message)
	}
	assert.Equal(t, []string{"Get:1 http://archive.ubuntu.com noble InRelease", "Setting up docker-ce ...", "debconf: delaying package configuration"}, lines)
}

// cancelOn cancels the run when a stage reaches a state.
type cancelOn struct {
	events
	ctid   int
	stage  string
	cancel context.CancelFunc
}

func (c *cancelOn) Emit(e engine.Event) {
	c.events.Emit(e)
	if e.Kind == engine.EventStage && e.CTID == c.ctid && e.Stage == c.stage && e.State != engine.StageRunning {
		c.cancel()
	}
}

func TestRunInterruptedBetweenStages(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &cancelOn{ctid: 900, stage: "configure", cancel: cancel}
	res, err := engine.Run(ctx, engine.RunOptions{Config: cfg, Backend: host, Events: sink})
	require.NoError(t, err)
	assert.Equal(t, engine.ExitInterrupted, res.ExitCode())
	c := container(t, res, 900)
	assert.Equal(t, engine.StageSkipped, c.State)
	assert.Equal(t, "interrupted", c.Reason)
	assert.Nil(t, stageOf(c, "start"), "no stage starts after Ctrl-C")
	assert.Empty(t, mutatingArgv(host, 900, "start"))
	for _, id := range []int{901, 902, 910, 920, 950} {
		assert.Equal(t, "interrupted", container(t, res, id).Reason)
	}
}

// The features Docker needs are set once, by the configure stage: the
// docker stage trusts phoenix's own write (hostCache) and neither sets
// them again nor restarts the container.
func TestDockerFeaturesAreSetOnceByConfigure(t *testing.T) {
	t.Parallel()
	ct := plain()
	ct.Named = []string{"docker"}
	cfg := oneConfig(ct)
	host := newHost()
	have := proxmoxConfig(ct)
	have["features"] = "nesting=1"
	host.Put(900, &memhost.Container{Config: have, Running: true, Files: installed("docker")})
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	st := stageOf(container(t, res, 900), "docker")
	require.NotNil(t, st)
	assert.Equal(t, engine.StageAlready, st.State)
	assert.Equal(t, "docker ready", st.Detail)
	assert.Equal(t, []string{"set 900 --features keyctl=1,nesting=1"}, mutatingArgv(host, 900, "configure"))
	assert.Empty(t, mutatingArgv(host, 900, "docker"))
	assert.Equal(t, "keyctl=1,nesting=1", host.Get(900).Config["features"])
}

func TestRunHookInterrupted(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	host.Put(910, &memhost.Container{Running: true})
	hooks := luaHooks(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	hooks.act = func(hctx context.Context, req engine.HookRequest) error {
		cancel()
		<-hctx.Done()
		return hctx.Err()
	}
	res, err := engine.RunHook(ctx, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks}, 910)
	require.NoError(t, err)
	assert.True(t, res.Interrupted)
	assert.Equal(t, engine.ExitInterrupted, res.ExitCode())
	assert.Equal(t, "interrupted", res.Containers[0].Stages[0].Detail)
	assert.Empty(t, host.Get(910).Files, "no marker for an interrupted hook")
}

// A stage's failure is said once in the events: its failed stage event
// (the console's progress line, the run log's ERROR line), not also an
// ERROR log event repeating it.
func TestStageFailureIsOneEvent(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	hooks := luaHooks(cfg)
	hooks.fail[920] = errors.New("phoenix_hypervisor_setup_920.lua:31: boom")
	ev := &events{}
	run(t, engine.RunOptions{Config: cfg, Backend: newHost(), Hooks: hooks, CTIDs: []int{920}, Events: ev})
	var said []engine.Event
	for _, e := range ev.all {
		if strings.Contains(e.Message, "boom") {
			said = append(said, e)
		}
	}
	require.Len(t, said, 1, "%+v", said)
	assert.Equal(t, engine.EventStage, said[0].Kind)
	assert.Equal(t, engine.StageFailed, said[0].State)
	assert.Equal(t, engine.StageHook, said[0].Stage)
}
