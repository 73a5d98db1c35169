package engine_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// dryRunOver is the plan's backend reading host.
func dryRunOver(host engine.Backend) engine.Backend { return dryrun.New(host) }

// TestDriftFailsTheContainerAndSkipsItsDependents: 900 exists privileged
// while its entry asks for unprivileged; the run fails it at configure
// before any change (exit 1), and 901, its clone, is skipped.
func TestDriftFailsTheContainerAndSkipsItsDependents(t *testing.T) {
	t.Parallel()
	base := plain()
	base.IsTemplate, base.TemplateSnapshot = true, "base-snapshot"
	base.Raw = map[string]any{"unprivileged": true}
	clone := exampleConfig().Containers[902]
	cfg := oneConfig(base, clone)
	for _, dryRun := range []bool{false, true} {
		host := newHost()
		have := proxmoxConfig(base)
		delete(have, "unprivileged")
		have["memory"] = "1024"
		host.Put(900, &memhost.Container{Config: have, Running: true, Snapshots: []string{"base-snapshot"}})
		var b engine.Backend = host
		if dryRun {
			b = dryRunOver(host)
		}
		res := run(t, engine.RunOptions{Config: cfg, Backend: b, DryRun: dryRun})
		assert.Equal(t, engine.ExitFailed, res.ExitCode())
		c := container(t, res, 900)
		assert.Equal(t, engine.StageFailed, c.State)
		assert.Equal(t, engine.MarkDrift, c.Marker())
		require.Len(t, c.Drift, 1)
		assert.ErrorContains(t, c.Err, "configure: cannot change in place: unprivileged 0 → 1 (")
		assert.ErrorContains(t, c.Err, "`phoenix destroy --ctid 900` then `phoenix run --ctid 900`, or set unprivileged back to false in the config")
		assert.Equal(t, "depends on 900", container(t, res, 902).Reason)
		assert.Empty(t, host.MutatingCalls(), "drift changes nothing, not even the memory")
	}
}

// TestLargerDiskIsResized: storage_size_gb above the host's size is one
// `pct resize CTID rootfs NG` and the plan says old → new.
func TestLargerDiskIsResized(t *testing.T) {
	t.Parallel()
	ct := plain()
	ct.StorageSizeGB = 64
	cfg := oneConfig(ct)
	host := newHost()
	have := proxmoxConfig(ct)
	have["rootfs"] = "lxc-disks:vm-900-disk-0,size=32G"
	have["memory"] = "1024"
	host.Put(900, &memhost.Container{Config: have, Running: true})
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%v", container(t, res, 900).Err)
	assert.Equal(t, []string{"set 900 --memory 2048", "resize 900 rootfs 64G"}, mutatingArgv(host, 900, "configure"))
	assert.Equal(t, "memory 1024 → 2048; rootfs 32G → 64G", stageOf(container(t, res, 900), "configure").Detail)
	assert.Equal(t, "lxc-disks:vm-900-disk-0,size=64G", host.Get(900).Config["rootfs"])

	host.ResetCalls()
	res = run(t, engine.RunOptions{Config: cfg, Backend: host})
	assert.Equal(t, engine.StageAlready, stageOf(container(t, res, 900), "configure").State)
	assert.Empty(t, host.MutatingCalls())
}

// TestCloneSourceChangeIsDrift: the description pct clone was given says
// where the container came from; a config naming another source fails it.
func TestCloneSourceChangeIsDrift(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	assert.Equal(t, "phoenix: cloned from 902@docker-snapshot", host.Get(910).Config["description"])
	assert.Equal(t, "phoenix: created from "+ubuntu, host.Get(900).Config["description"])

	cfg.Containers[910].CloneFrom = 900
	host.ResetCalls()
	res = run(t, engine.RunOptions{Config: cfg, Backend: host})
	c := container(t, res, 910)
	assert.Equal(t, engine.MarkDrift, c.Marker())
	assert.ErrorContains(t, c.Err, "clone_from_ctid 902 → 900")
	assert.Empty(t, host.MutatingCalls())
}

// TestStaleTemplate: a template whose hook ran again after its snapshot
// keeps the old snapshot and warns, naming its clones; with
// RefreshTemplates the snapshot is deleted and re-taken, the clones left
// alone; the next run finds it fresh.
func TestStaleTemplate(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	host := newHost()
	hooks := luaHooks(cfg)
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	require.Equal(t, engine.ExitOK, res.ExitCode())

	// 900's config entry changes: its hook runs again, its snapshot is stale.
	cfg.Containers[900].Raw["comment"] = "changed"
	host.ResetCalls()
	res = run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	c := container(t, res, 900)
	assert.Equal(t, "snapshot base-snapshot exists, stale", stageOf(c, "template").Detail)
	require.Len(t, c.Warnings, 1)
	assert.Equal(t, "snapshot base-snapshot is stale: hook changed the container after it was taken; clones made from it miss the change: 901, 902;"+
		" `phoenix run --refresh-templates` re-takes it (existing clones are left alone)", c.Warnings[0])
	assert.Empty(t, mutatingArgv(host, 900, "template"))

	// The next run reads the marker: still stale, still a warning.
	host.ResetCalls()
	res = run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	assert.Contains(t, container(t, res, 900).Warnings[0], "the config entry or hook of 900 changed since it was taken")
	assert.Empty(t, host.MutatingCalls())

	host.ResetCalls()
	res = run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, RefreshTemplates: true})
	c = container(t, res, 900)
	assert.Equal(t, engine.StageDone, stageOf(c, "template").State)
	assert.Equal(t, "snapshot base-snapshot re-taken: the config entry or hook of 900 changed since it was taken;"+
		" existing clones 901, 902 are left alone (destroy and run them to rebuild from it)", stageOf(c, "template").Detail)
	assert.Equal(t, []string{"exec 900 -- mkdir -p /etc/phoenix", "push 900 <content> /etc/phoenix/template-900.sha256 --perms 0644",
		"shutdown 900 --timeout 60", "delsnapshot 900 base-snapshot", "snapshot 900 base-snapshot", "start 900"}, mutatingArgv(host, 900, "template"))
	for _, call := range host.MutatingCalls() {
		assert.Equal(t, 900, call.Origin.CTID, "the clones are left alone: %s", strings.Join(call.Argv, " "))
	}

	host.ResetCalls()
	res = run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, RefreshTemplates: true})
	assert.Empty(t, container(t, res, 900).Warnings)
	assert.Empty(t, host.MutatingCalls(), "a fresh snapshot is not re-taken")
}

// TestCloneOnAnotherPool: a clone whose storage_pool is not where its
// source's root disk is, is cloned there (a full clone with --storage), as
// the plan says; once made, it matches; asked onto yet another pool, it
// is the drift '!' (pct cannot move a root disk in place) and the run
// fails it, changing nothing.
func TestCloneOnAnotherPool(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig()
	cfg.Containers[910].StoragePool = "tank"
	host := memhost.NewModel()
	hooks := luaHooks(cfg)
	want := "clone 902 910 --snapname docker-snapshot --hostname Portainer --full 1 --storage tank --description 'phoenix: cloned from 902@docker-snapshot'"

	plan := run(t, engine.RunOptions{Config: cfg, Backend: dryRunOver(host), Hooks: hooks, DryRun: true})
	var planned []string
	for _, a := range container(t, plan, 910).Actions {
		if a.Stage == engine.StageClone {
			planned = append(planned, engine.FormatArgv(a.Argv))
		}
	}
	assert.Equal(t, []string{"pct " + want}, planned)

	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	// the fake records the argv joined by spaces, unquoted
	assert.Equal(t, []string{strings.ReplaceAll(want, "'", "")}, mutatingArgv(host, 910, engine.StageClone))
	assert.True(t, strings.HasPrefix(host.Get(910).Config["rootfs"], "tank:"), host.Get(910).Config["rootfs"])
	assert.True(t, strings.HasPrefix(host.Get(902).Config["rootfs"], "lxc-disks:"), "the source stays")
	clone920 := mutatingArgv(host, 920, engine.StageClone)
	require.Len(t, clone920, 1)
	assert.NotContains(t, clone920[0], "--storage", "a clone on its source's pool is cloned as before")

	host.ResetCalls()
	again := run(t, engine.RunOptions{Config: cfg, Backend: dryRunOver(host), Hooks: hooks, DryRun: true})
	assert.Equal(t, engine.MarkUnchanged, container(t, again, 910).Marker())

	cfg.Containers[910].StoragePool = "other"
	for _, dryRun := range []bool{true, false} {
		var b engine.Backend = host
		if dryRun {
			b = dryRunOver(host)
		}
		res := run(t, engine.RunOptions{Config: cfg, Backend: b, Hooks: hooks, DryRun: dryRun})
		c := container(t, res, 910)
		assert.Equal(t, engine.MarkDrift, c.Marker())
		require.Len(t, c.Drift, 1)
		assert.Equal(t, "storage_pool tank → other (the root disk lives there): to apply it, `phoenix destroy --ctid 910` then `phoenix run --ctid 910`, or set storage_pool back to \"tank\" in the config", c.Drift[0].Line(910))
		assert.Equal(t, engine.ExitFailed, res.ExitCode())
	}
	assert.Empty(t, host.MutatingCalls(), "drift changes nothing")
}
