package lxc

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

func testHost(cgroup2 bool, bridges ...string) host {
	return host{
		cgroup2: cgroup2,
		network: true,
		nesting: "/usr/share/lxc/config/nesting.conf",
		bridge: func(n string) bool {
			for _, b := range bridges {
				if b == n {
					return true
				}
			}
			return false
		},
	}
}

func apply(t *testing.T, c *lxcConf, h host, kv ...string) []string {
	t.Helper()
	var notes []string
	for i := 0; i < len(kv); i += 2 {
		n, err := applyOption(c, kv[i], kv[i+1], h)
		require.NoError(t, err)
		if n != "" {
			notes = append(notes, n)
		}
	}
	return notes
}

func TestOptionsRoundTripThroughConfig(t *testing.T) {
	for _, cg2 := range []bool{false, true} {
		c := parseConf("lxc.rootfs.path = dir:/x/rootfs\n")
		h := testHost(cg2)
		apply(t, c, h, "hostname", "web", "memory", "2048", "cores", "4", "swap", "512",
			"rootfs", "local-lvm:8", "unprivileged", "1", "features", "nesting=1,keyctl=1",
			"net0", "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1")
		got := pctConfig(c)
		assert.Equal(t, "web", got["hostname"])
		assert.Equal(t, "2048", got["memory"])
		assert.Equal(t, "4", got["cores"])
		assert.Equal(t, "512", got["swap"])
		assert.Equal(t, "local-lvm:8", got["rootfs"])
		assert.Equal(t, "1", got["unprivileged"])
		assert.Equal(t, "nesting=1,keyctl=1", got["features"])
		assert.Equal(t, "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1", got["net0"], "net0 reads back as configured so configure converges")
		assert.Equal(t, "empty", got["lxc.net.0.type"], "no bridge: no network")
		assert.Equal(t, "/usr/share/lxc/config/nesting.conf", got["lxc.include"])
		if cg2 {
			assert.Equal(t, "2147483648", got["lxc.cgroup2.memory.max"])
			assert.Equal(t, "400000 100000", got["lxc.cgroup2.cpu.max"])
			assert.Equal(t, "536870912", got["lxc.cgroup2.memory.swap.max"])
		} else {
			assert.Equal(t, "2147483648", got["lxc.cgroup.memory.limit_in_bytes"])
			assert.Equal(t, "400000", got["lxc.cgroup.cpu.cfs_quota_us"])
		}
	}
}

func TestNet0OnlyWhenBridgeExists(t *testing.T) {
	net0 := "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,hwaddr=52:54:00:00:00:05"

	c := parseConf("")
	notes := apply(t, c, testHost(false), "net0", net0)
	assert.Equal(t, []string{"no bridge vmbr0 on this host: no network"}, notes)
	assert.Equal(t, []string{"lxc.net.0.type"}, c.Keys())

	c = parseConf("")
	notes = apply(t, c, testHost(false, "vmbr0"), "net0", net0)
	assert.Empty(t, notes)
	assert.Equal(t, "veth", c.First("lxc.net.0.type"))
	assert.Equal(t, "vmbr0", c.First("lxc.net.0.link"))
	assert.Equal(t, "eth0", c.First("lxc.net.0.name"))
	assert.Equal(t, "10.0.0.5/24", c.First("lxc.net.0.ipv4.address"))
	assert.Equal(t, "10.0.0.1", c.First("lxc.net.0.ipv4.gateway"))
	assert.Equal(t, "52:54:00:00:00:05", c.First("lxc.net.0.hwaddr"))

	off := testHost(false, "vmbr0")
	off.network = false
	c = parseConf("")
	notes = apply(t, c, off, "net0", net0)
	assert.Equal(t, []string{"networking is off (PHOENIX_LXC_NETWORK=none): no network"}, notes)
	assert.Equal(t, "empty", c.First("lxc.net.0.type"))

	c = parseConf("")
	apply(t, c, testHost(false, "vmbr0"), "net0", "name=eth0,bridge=vmbr0,ip=dhcp")
	assert.Empty(t, c.Get("lxc.net.0.ipv4.address"), "dhcp: no address invented")
}

func TestDeleteOptions(t *testing.T) {
	h := testHost(true, "vmbr0")
	c := parseConf("")
	apply(t, c, h, "memory", "512", "cores", "1", "net0", "name=eth0,bridge=vmbr0", "features", "nesting=1", "onboot", "1")
	for _, k := range []string{"memory", "cores", "net0", "features", "onboot"} {
		deleteOption(c, k, h)
	}
	got := pctConfig(c)
	for _, k := range []string{"memory", "cores", "net0", "features", "onboot", "lxc.include", "lxc.net.0.link"} {
		assert.NotContains(t, got, k)
	}
	assert.Equal(t, "empty", got["lxc.net.0.type"])
}

func TestOptionNotesAndErrors(t *testing.T) {
	h := testHost(false)
	c := parseConf("")
	notes := apply(t, c, h, "features", "nesting=1,keyctl=1,fuse=1", "dev0", "/dev/nvidia0", "unprivileged", "1", "swap", "256")
	assert.Equal(t, []string{
		"features fuse,keyctl are recorded, not applied on this backend",
		"dev0 is recorded, not applied: no device passthrough on this backend",
		"swap is recorded, not enforced (cgroup v1 host)",
	}, notes)
	_, err := applyOption(c, "memory", "lots", h)
	assert.ErrorContains(t, err, `memory: want a positive integer, got "lots"`)
	_, err = applyOption(c, "cores", "0", h)
	assert.Error(t, err)
}

func TestParseBytesAndCores(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "1G": 1 << 30, "1048576": 1 << 20, "4k": 4096} {
		n, ok := parseBytes(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, n, in)
	}
	for _, in := range []string{"", "max", "-1", "x"} {
		_, ok := parseBytes(in)
		assert.False(t, ok, in)
	}
	c := parseConf("lxc.cgroup2.cpu.max = 150000 100000\n")
	n, ok := cores(c)
	assert.True(t, ok)
	assert.Equal(t, 2, n, "a fractional quota rounds up")
	_, ok = cores(parseConf("lxc.cgroup2.cpu.max = max 100000\n"))
	assert.False(t, ok)
}

func TestParseSnapshots(t *testing.T) {
	out := "snap0 (/tmp/x/100/snaps) 2026:11:25 21:27:11\nphoenix-snapshot: base-snap\nsnap1 (/tmp/x/100/snaps) 2026:11:25 21:30:00\nsome user comment\n"
	assert.Equal(t, []snapshot{{name: "base-snap", lxcName: "snap0"}, {name: "snap1", lxcName: "snap1"}}, parseSnapshots(out))
	assert.Empty(t, parseSnapshots("No snapshots\n"))
}

// TestBindMountsAreRealVolumesRecorded: a bind mount of a host directory
// is an lxc.mount.entry; re-pointing it replaces its line; a new storage
// volume is recorded with a note; `pct config` answers with the mpN.
func TestBindMountsAreRealVolumesRecorded(t *testing.T) {
	c := parseConf("")
	h := testHost(true)
	assert.Empty(t, apply(t, c, h, "mp0", "/srv/a,mp=/var/www/html"))
	assert.Equal(t, []string{"/srv/a var/www/html none bind,create=dir 0 0"}, c.Get("lxc.mount.entry"))
	assert.Empty(t, apply(t, c, h, "mp0", "/srv/b,mp=/var/www/html"))
	assert.Equal(t, []string{"/srv/b var/www/html none bind,create=dir 0 0"}, c.Get("lxc.mount.entry"))
	notes := apply(t, c, h, "mp1", "local-zfs:10,mp=/data")
	assert.Equal(t, []string{"mp1 local-zfs:10 is recorded, not created: no Proxmox storage on this backend"}, notes)
	assert.Len(t, c.Get("lxc.mount.entry"), 1)
	cfg := pctConfig(parseConf(c.String()))
	assert.Equal(t, "/srv/b,mp=/var/www/html", cfg["mp0"])
	assert.Equal(t, "local-zfs:10,mp=/data", cfg["mp1"])
}

// TestIDMapsAreApplied: the container's own lxc.idmap lines become LXC's
// (with the idmapped rootfs mount) and are what pct config shows; an
// unprivileged container without any gets Proxmox's default map, which
// pct config does not show; a privileged one gets none.
func TestIDMapsAreApplied(t *testing.T) {
	c := parseConf("lxc.rootfs.path = dir:/x\n")
	recordIDMap(c, "u 0 100000 65536")
	recordIDMap(c, "g 33 33 1")
	recordIDMap(c, "g 33 33 1")
	syncIDMaps(c)
	again := parseConf(c.String())
	assert.Equal(t, []string{"u 0 100000 65536", "g 33 33 1"}, again.Get("lxc.idmap"))
	assert.Equal(t, "idmap=container", again.First("lxc.rootfs.options"))
	assert.Equal(t, "u 0 100000 65536\ng 33 33 1", pctConfig(again)["lxc.idmap"])

	c = parseConf("lxc.rootfs.path = dir:/x\n")
	apply(t, c, testHost(true), "unprivileged", "1")
	assert.Equal(t, []string{"u 0 100000 65536", "g 0 100000 65536"}, c.Get("lxc.idmap"))
	assert.NotContains(t, pctConfig(c), "lxc.idmap", "the default map is no line of the pct config")
	assert.Equal(t, "1", pctConfig(c)["unprivileged"])
	deleteOption(c, "unprivileged", testHost(true))
	assert.Empty(t, c.Get("lxc.idmap"))
	assert.Empty(t, c.Get("lxc.rootfs.options"), "privileged: no idmapped mount")
}

// TestEditRawReplacesInPlace: MergeRaw's edit on an LXC config: a shared
// key keeps its other lines where they are, an owned key is replaced, the
// description (several lines) survives the one-line meta form.
func TestEditRawReplacesInPlace(t *testing.T) {
	b, err := newBackend(Options{LXCPath: t.TempDir(), Network: NetworkNone})
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(b.dir(960), 0o755))
	c := parseConf("lxc.uts.name = later\nlxc.mount.entry = /admin admin none bind 0 0\nlxc.apparmor.profile = generated\n")
	c.SetMeta("description", "phoenix: created from t")
	require.NoError(t, c.write(b.confPath(960)))

	have, err := b.Config(t.Context(), 960)
	require.NoError(t, err)
	want := []pve.RawLine{{Key: "lxc.apparmor.profile", Value: "unconfined"}, {Key: "lxc.mount.entry", Value: "/srv srv none bind 0 0"}}
	edit := pve.MergeRaw(have, want)
	require.NoError(t, b.EditRaw(t.Context(), 960, edit))
	got, err := readConf(b.confPath(960))
	require.NoError(t, err)
	assert.Equal(t, []string{"/admin admin none bind 0 0", "/srv srv none bind 0 0"}, got.Get("lxc.mount.entry"))
	assert.Equal(t, []string{"unconfined"}, got.Get("lxc.apparmor.profile"))
	have, err = b.Config(t.Context(), 960)
	require.NoError(t, err)
	assert.Equal(t, "phoenix: created from t\n"+`phoenix: raw lines ["lxc.apparmor.profile","lxc.mount.entry: /srv srv none bind 0 0"]`, have["description"])
	assert.True(t, pve.MergeRaw(have, want).Empty(), "converged")
}
