package engine_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

func intp(n int) *int { return &n }

// laterContainer is a created container that asks for every later-era
// configuration stage.
func laterContainer() *engine.Container {
	return &engine.Container{
		CTID: 960, Hostname: "later", MemoryMB: 1024, Cores: 1, Template: ubuntu,
		StoragePool: "local-lvm", StorageSizeGB: 8, Unprivileged: true,
		Net:           &engine.NetConfig{Name: "eth0", Bridge: "vmbr0", IP: "10.0.0.160/24", GW: "10.0.0.1", Firewall: true},
		GPUAssignment: "none", PortainerRole: "none",
		Raw: map[string]any{"name": "later"},
		Later: engine.Later{
			MountPoints: []engine.MountPoint{
				{HostPath: "/srv/later/logs", CTPath: "/var/log/app", OwnerUID: intp(33), OwnerGID: intp(33)},
				{HostPath: "/srv/shared", CTPath: "/shared"},
			},
			Volumes:     []engine.Volume{{Name: "data", Pool: "local-zfs", SizeGB: 10, Path: "/data"}},
			Boot:        &engine.Boot{OnBoot: true, Order: intp(3), Delay: intp(5)},
			Nameservers: []string{"10.0.0.13", "8.8.8.8"},
			LXCLines: []pve.RawLine{
				{Key: "lxc.apparmor.profile", Value: "unconfined"},
				{Key: "lxc.idmap", Value: "u 0 100000 65536"},
				{Key: "lxc.idmap", Value: "g 0 100000 33"},
				{Key: "lxc.idmap", Value: "g 33 33 1"},
				{Key: "lxc.idmap", Value: "g 34 100034 65502"},
			},
			IDMaps: []pve.IDMap{{Kind: "u", CT: 0, Host: 100000, Size: 65536}, {Kind: "g", CT: 0, Host: 100000, Size: 33},
				{Kind: "g", CT: 33, Host: 33, Size: 1}, {Kind: "g", CT: 34, Host: 100034, Size: 65502}},
			Firewall: &engine.Firewall{Enabled: true, Rules: []pve.FirewallRule{
				{Dir: "IN", Action: "ACCEPT", Source: "10.0.0.12", Proto: "tcp", DPort: "8000", Comment: "Allow Traefik"},
			}},
		},
	}
}

// TestLaterStagesApplyThenConverge: a fresh container gets its mount
// points (host directories owned by the mapped ids), boot order, DNS,
// raw lines and firewall before its one start; the re-run makes no
// mutating call.
func TestLaterStagesApplyThenConverge(t *testing.T) {
	t.Parallel()
	ct := laterContainer()
	cfg := oneConfig(ct)
	host := newHost()
	first := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}})
	require.Equal(t, engine.ExitOK, first.ExitCode(), "%+v", container(t, first, 960))

	assert.Contains(t, mutatingArgv(host, 960, engine.StageCreate)[0], "--net0 name=eth0,bridge=vmbr0,ip=10.0.0.160/24,gw=10.0.0.1,firewall=1")
	assert.Equal(t, []string{
		"# on the host: mkdir -p /srv/later/logs && chown 100033:33 /srv/later/logs",
		"# on the host: mkdir -p /srv/shared",
		"set 960 --mp0 /srv/later/logs,mp=/var/log/app --mp1 /srv/shared,mp=/shared --mp2 local-zfs:10,mp=/data",
	}, mutatingArgv(host, 960, engine.StageMounts))
	assert.Equal(t, []string{"set 960 --onboot 1 --startup order=3,up=5 --nameserver 10.0.0.13 8.8.8.8"}, mutatingArgv(host, 960, engine.StageBoot))
	assert.Equal(t, []string{`# edit /etc/pve/lxc/960.conf: + lxc.apparmor.profile: unconfined + lxc.idmap: u 0 100000 65536 + lxc.idmap: g 0 100000 33 + lxc.idmap: g 33 33 1 + lxc.idmap: g 34 100034 65502`,
		"set 960 --description " + engine.CreatedDescription(ubuntu) + "\n" + `phoenix: raw lines ["lxc.apparmor.profile","lxc.idmap"]`},
		mutatingArgv(host, 960, engine.StageLXCConf))
	fw, ok := host.PVEFile("firewall/960.fw")
	require.True(t, ok)
	assert.Equal(t, "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -source 10.0.0.12 -p tcp -dport 8000 # Allow Traefik\n", string(fw))
	assert.Equal(t, map[string]memhost.HostDir{"/srv/later/logs": {UID: 100033, GID: 33}, "/srv/shared": {UID: -1, GID: -1}}, host.HostDirs())
	assert.Equal(t, []string{"start 960"}, mutatingArgv(host, 960, engine.StageStart), "one start, after the configuration")

	host.ResetCalls()
	second := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}})
	require.Equal(t, engine.ExitOK, second.ExitCode())
	assert.Empty(t, host.MutatingCalls(), "a converged re-run changes nothing")
	for _, s := range []string{engine.StageMounts, engine.StageBoot, engine.StageLXCConf, engine.StageFirewall} {
		assert.Equal(t, engine.StageAlready, stageOf(container(t, second, 960), s).State, s)
	}
}

// TestMountsMatchByContainerPath: a mount point already there under
// another index is not added again (the original added a volume on every
// run); a bind mount whose host path changed is re-pointed in place.
func TestMountsMatchByContainerPath(t *testing.T) {
	t.Parallel()
	ct := laterContainer()
	ct.Later = engine.Later{
		MountPoints: []engine.MountPoint{{HostPath: "/srv/new", CTPath: "/shared"}},
		Volumes:     []engine.Volume{{Name: "data", Pool: "local-zfs", SizeGB: 10, Path: "/data"}},
	}
	cfg := oneConfig(ct)
	host := newHost()
	host.Put(960, &memhost.Container{Config: map[string]string{
		"hostname": "later", "memory": "1024", "cores": "1",
		"net0": "name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=BC:24:11:00:00:01,ip=10.0.0.160/24,type=veth",
		"mp4":  "local-zfs:subvol-960-disk-1,mp=/data,size=10G",
		"mp7":  "/srv/old,mp=/shared",
	}, Running: true})
	require.NoError(t, host.EnsureHostDir(t.Context(), 960, "/srv/new", -1, -1))
	host.ResetCalls()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: &stubHooks{}})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	assert.Equal(t, []string{"set 960 --mp7 /srv/new,mp=/shared"}, mutatingArgv(host, 960, engine.StageMounts))
}
