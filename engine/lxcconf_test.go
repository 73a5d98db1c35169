package engine_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// rawContainer is 960 asking only for raw lines.
func rawContainer(lines ...string) *engine.Container {
	ct := laterContainer()
	ct.Later = engine.Later{}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, ": ")
		ct.Later.LXCLines = append(ct.Later.LXCLines, pve.RawLine{Key: k, Value: v})
	}
	return ct
}

// TestLXCConfReplacesWhatPhoenixWrote: a container converged on an older
// config (AppArmor generated, the default id map, a mount and a prlimit
// of Phoenix's) on which the administrator and the NVIDIA stage added
// lines of their own. The new config changes the profile, maps gid 33 and
// drops the mount and the prlimit: the profile is replaced, the id map set
// replaced whole (no old lxc.idmap line stays beside the new ones),
// Phoenix's mount and prlimit removed, the others' lines kept. The plan
// lists the same edit the run makes, and a re-run makes no mutating call.
func TestLXCConfReplacesWhatPhoenixWrote(t *testing.T) {
	t.Parallel()
	old := rawContainer(
		"lxc.apparmor.profile: generated",
		"lxc.mount.entry: /srv/old srv/old none bind 0 0",
		"lxc.prlimit.nofile: 1024",
		"lxc.idmap: u 0 100000 65536",
		"lxc.idmap: g 0 100000 65536",
	)
	host := newHost()
	first := run(t, engine.RunOptions{Config: oneConfig(old), Backend: host, Hooks: &stubHooks{}})
	require.Equal(t, engine.ExitOK, first.ExitCode(), "%+v", container(t, first, 960))

	// The administrator's mount and the NVIDIA stage's lines.
	c := host.Get(960)
	c.Config["lxc.mount.entry"] += "\n/mnt/admin mnt/admin none bind 0 0\n/dev/nvidia0 dev/nvidia0 none bind,optional,create=file"
	c.Config["lxc.cgroup2.devices.allow"] = "c 195:* rwm"
	host.Put(960, c)
	host.ResetCalls()

	cfg := oneConfig(rawContainer(
		"lxc.apparmor.profile: unconfined",
		"lxc.idmap: u 0 100000 65536",
		"lxc.idmap: g 0 100000 33",
		"lxc.idmap: g 33 33 1",
		"lxc.idmap: g 34 100034 65502",
	))
	planned := run(t, engine.RunOptions{Config: cfg, Backend: dryrun.New(host), Hooks: &stubHooks{}, DryRun: true})
	require.Empty(t, host.MutatingCalls(), "the plan changed nothing")
	var planArgv []string
	for _, a := range container(t, planned, 960).Actions {
		if a.Stage == engine.StageLXCConf {
			planArgv = append(planArgv, strings.Join(a.Argv, " "))
		}
	}

	applied := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}})
	require.Equal(t, engine.ExitOK, applied.ExitCode(), "%+v", container(t, applied, 960))
	want := `# edit /etc/pve/lxc/960.conf: lxc.apparmor.profile: generated → unconfined` +
		` - lxc.idmap: g 0 100000 65536 + lxc.idmap: g 0 100000 33 + lxc.idmap: g 33 33 1 + lxc.idmap: g 34 100034 65502` +
		` - lxc.mount.entry: /srv/old srv/old none bind 0 0` +
		` - lxc.prlimit.nofile: 1024`
	// The record goes into the description with its own pct set.
	record := "set 960 --description " + engine.CreatedDescription(ubuntu) + "\n" + `phoenix: raw lines ["lxc.apparmor.profile","lxc.idmap"]`
	restart := []string{want, record, "shutdown 960 --timeout 60", "start 960"}
	assert.Equal(t, restart, mutatingArgv(host, 960, engine.StageLXCConf), "the edit, then a restart: LXC reads lines at start")
	assert.Equal(t, restart, planArgv, "the plan shows the run's edit")

	got := host.Get(960).Config
	assert.Equal(t, "unconfined", got["lxc.apparmor.profile"])
	assert.Equal(t, "u 0 100000 65536\ng 0 100000 33\ng 33 33 1\ng 34 100034 65502", got["lxc.idmap"], "the set replaced whole")
	assert.Equal(t, "/mnt/admin mnt/admin none bind 0 0\n/dev/nvidia0 dev/nvidia0 none bind,optional,create=file", got["lxc.mount.entry"],
		"the others' mounts kept, Phoenix's removed")
	assert.Equal(t, "c 195:* rwm", got["lxc.cgroup2.devices.allow"])
	assert.NotContains(t, got, "lxc.prlimit.nofile")
	assert.Equal(t, engine.CreatedDescription(ubuntu)+"\n"+`phoenix: raw lines ["lxc.apparmor.profile","lxc.idmap"]`, got["description"],
		"the provenance line kept, the record updated")

	host.ResetCalls()
	again := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}})
	require.Equal(t, engine.ExitOK, again.ExitCode())
	assert.Empty(t, host.MutatingCalls(), "a converged re-run changes nothing")
	assert.Equal(t, engine.StageAlready, stageOf(container(t, again, 960), engine.StageLXCConf).State)
}

// TestLXCConfRemovesLinesTheConfigDropped: a config that no longer asks
// for any raw line still runs the stage while the record names lines:
// they are removed, the record with them, an admin's line of the same
// key stays; after that the stage no longer runs.
func TestLXCConfRemovesLinesTheConfigDropped(t *testing.T) {
	t.Parallel()
	old := rawContainer("lxc.apparmor.profile: unconfined", "lxc.cap.drop: sys_time")
	host := newHost()
	require.Equal(t, engine.ExitOK, run(t, engine.RunOptions{Config: oneConfig(old), Backend: host, Hooks: &stubHooks{}}).ExitCode())
	c := host.Get(960)
	c.Config["lxc.cap.drop"] += "\nmknod"
	host.Put(960, c)
	host.ResetCalls()

	cfg := oneConfig(rawContainer())
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}})
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%+v", container(t, res, 960))
	assert.Equal(t, []string{`# edit /etc/pve/lxc/960.conf: - lxc.apparmor.profile: unconfined - lxc.cap.drop: sys_time`,
		"set 960 --description " + engine.CreatedDescription(ubuntu), "shutdown 960 --timeout 60", "start 960"},
		mutatingArgv(host, 960, engine.StageLXCConf))
	got := host.Get(960).Config
	assert.NotContains(t, got, "lxc.apparmor.profile")
	assert.Equal(t, "mknod", got["lxc.cap.drop"], "the admin's line stays")
	assert.Equal(t, engine.CreatedDescription(ubuntu), got["description"])

	host.ResetCalls()
	again := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}})
	assert.Empty(t, host.MutatingCalls())
	assert.Nil(t, stageOf(container(t, again, 960), engine.StageLXCConf), "no record, no lines asked: the stage does not run")
}

// TestLXCConfRecordOnlyNoRestart: lines already there as the config asks
// (written before the record existed) get the record, without a restart
// of the running container: LXC reads nothing new.
func TestLXCConfRecordOnlyNoRestart(t *testing.T) {
	t.Parallel()
	ct := rawContainer("lxc.apparmor.profile: unconfined")
	cfg := oneConfig(ct)
	host := newHost()
	require.Equal(t, engine.ExitOK, run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}}).ExitCode())
	c := host.Get(960)
	c.Config["description"] = engine.CreatedDescription(ubuntu)
	host.Put(960, c)
	host.ResetCalls()

	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	assert.Equal(t, []string{"set 960 --description " + engine.CreatedDescription(ubuntu) + "\n" + `phoenix: raw lines ["lxc.apparmor.profile"]`}, mutatingArgv(host, 960, ""),
		"the record only: no edit of the file, one pct set")
	assert.True(t, host.Get(960).Running)
}
