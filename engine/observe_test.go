package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestObserveEmitsMutatingCallsAndNonProbeExecs(t *testing.T) {
	t.Parallel()
	ev := &events{}
	inner := memhost.New()
	b := engine.Observe(inner, ev)
	ctx := engine.WithOrigin(context.Background(), engine.Origin{CTID: 901, Stage: "hook", Source: "setup_901.lua:7"})

	require.NoError(t, b.Create(ctx, engine.CreateSpec{CTID: 901, Template: "t", Options: []engine.Option{{Key: "memory", Value: "512"}}}))
	_, err := b.Status(ctx, 901)
	require.NoError(t, err)
	_, err = b.Config(ctx, 901)
	require.NoError(t, err)
	_, err = b.ListSnapshots(ctx, 901)
	require.NoError(t, err)
	_, err = b.List(ctx)
	require.NoError(t, err)
	require.NoError(t, b.Start(ctx, 901))
	_, err = b.Exec(ctx, 901, []string{"nvidia-smi"}, engine.ExecOptions{Probe: true})
	require.NoError(t, err)
	_, err = b.Exec(ctx, 901, []string{"echo", "hi there"}, engine.ExecOptions{Env: map[string]string{"A": "1"}})
	require.NoError(t, err)
	require.NoError(t, b.Push(ctx, 901, "/etc/x", []byte("x"), engine.PushOptions{Perms: "0600"}))
	require.NoError(t, b.Set(ctx, 901, []engine.Option{{Key: "cores", Value: "2"}}, []string{"dev0"}))
	require.NoError(t, b.AppendRaw(ctx, 901, []string{"lxc.mount.entry: a b"}))
	require.NoError(t, b.Shutdown(ctx, 901, time.Minute))
	require.NoError(t, b.Snapshot(ctx, 901, "s1"))
	require.NoError(t, b.Start(ctx, 901))
	require.NoError(t, b.Stop(ctx, 901))
	require.NoError(t, b.Clone(context.Background(), engine.CloneSpec{Source: 901, CTID: 902, Snapshot: "s1"}))
	require.NoError(t, b.Destroy(ctx, 902))

	var got []string
	for _, e := range ev.Of(engine.EventAction) {
		got = append(got, engine.FormatAction(e))
		assert.False(t, e.Time.IsZero())
	}
	assert.Equal(t, []string{
		"pct create 901 t --memory 512    # setup_901.lua:7",
		"pct start 901    # setup_901.lua:7",
		"pct push 901 '<content>' '<env-file>' --perms 0600    # setup_901.lua:7",
		"pct exec 901 -- sh -c 'trap '\\''rm -f \"$0\"'\\'' EXIT; . \"$0\" && rm -f \"$0\" && trap - EXIT && exec \"$@\"' '<env-file>' echo 'hi there'    # setup_901.lua:7",
		"pct push 901 '<content>' /etc/x --perms 0600    # setup_901.lua:7",
		"pct set 901 --cores 2 --delete dev0    # setup_901.lua:7",
		"append to /etc/pve/lxc/901.conf: lxc.mount.entry: a b    # setup_901.lua:7",
		"pct shutdown 901 --timeout 60    # setup_901.lua:7",
		"pct snapshot 901 s1    # setup_901.lua:7",
		"pct start 901    # setup_901.lua:7",
		"pct stop 901    # setup_901.lua:7",
		"pct clone 901 902 --snapname s1",
		"pct destroy 902 --purge 1    # setup_901.lua:7",
	}, got)
	actions := ev.Of(engine.EventAction)
	assert.Equal(t, 901, actions[0].CTID)
	assert.Equal(t, "hook", actions[0].Stage)
	assert.Equal(t, 902, actions[11].CTID, "without an origin the call's own CTID")
	assert.Equal(t, len(inner.MutatingCalls()), len(actions), "every call was delegated")
	assert.Equal(t, "fake", b.Name())

	gs, ok := b.(engine.GPUSupport)
	require.True(t, ok)
	yes, _ := gs.GPUSupported()
	assert.True(t, yes, "a backend without GPUSupport supports GPUs")
	no, why := engine.Observe(gpuless{memhost.New()}, ev).(engine.GPUSupport).GPUSupported()
	assert.False(t, no)
	assert.Equal(t, "no NVIDIA devices on this host", why)
}
