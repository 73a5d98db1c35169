package lxc

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

func TestPlanNotes(t *testing.T) {
	b := &Backend{path: t.TempDir(), host: testHost(false, "vmbr1")}
	rootfs := t.TempDir()
	cfg := &engine.Config{Containers: map[int]*engine.Container{
		101: {CTID: 101, CloneFrom: 100, Net: &engine.NetConfig{Bridge: "vmbr1"}},
		100: {CTID: 100, Template: rootfs, Net: &engine.NetConfig{Bridge: "vmbr0"}, Unprivileged: true, GPUAssignment: "0"},
		102: {CTID: 102, Template: "local:vztmpl/debian.tar.zst"},
	}}
	notes := b.PlanNotes(cfg)
	assert.Equal(t, "CT 100: no bridge vmbr0 on this host: no network", notes[0])
	assert.Equal(t, "CT 100: nvidia stage skipped: no GPU on this backend", notes[1])
	assert.Contains(t, notes[2], "CT 100: create will fail: template") // an empty dir is no rootfs
	assert.Contains(t, notes[3], "CT 102: create will fail: template \"local:vztmpl/debian.tar.zst\" is not a rootfs directory or tarball on this host")
	assert.Len(t, notes, 4, "CT 101's bridge exists: no note; unprivileged applies for real: no note")
}

// TestPlanNotesWithoutTools: a dry-run where LXC is not installed still
// says which containers get no network, without running any tool.
func TestPlanNotesWithoutTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no lxc-* tool
	_, err := New(Options{})
	require.ErrorContains(t, err, "not found on PATH")
	cfg := &engine.Config{Containers: map[int]*engine.Container{
		101: {CTID: 101, CloneFrom: 100, Net: &engine.NetConfig{Bridge: "vmbr0"}},
		102: {CTID: 102, CloneFrom: 100, Net: &engine.NetConfig{Bridge: "vmbr1"}},
	}}
	path := filepath.Join(t.TempDir(), "lxc")
	notes, err := PlanNotesFor(Options{LXCPath: path, BridgeExists: func(n string) bool { return n == "vmbr1" }}, cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"CT 101: no bridge vmbr0 on this host: no network"}, notes)
	notes, err = PlanNotesFor(Options{LXCPath: path, Network: NetworkNone}, cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"CT 101: networking is off (PHOENIX_LXC_NETWORK=none): no network",
		"CT 102: networking is off (PHOENIX_LXC_NETWORK=none): no network",
	}, notes)
	assert.NoDirExists(t, path, "notes create nothing")
	_, err = PlanNotesFor(Options{Network: "bogus"}, cfg)
	assert.ErrorContains(t, err, "network mode")
}

// TestPlanNotesOfTheLaterEra: what this backend cannot do of the later
// era is said in the notes: the firewall, new volumes, and an AppArmor
// line on a host without AppArmor. Id maps apply for real: no note.
func TestPlanNotesOfTheLaterEra(t *testing.T) {
	b := &Backend{path: t.TempDir(), host: testHost(true)}
	ct := &engine.Container{CTID: 960, CloneFrom: 900}
	ct.Later.Firewall = &engine.Firewall{Enabled: true}
	ct.Later.Volumes = []engine.Volume{{Pool: "local-zfs", SizeGB: 1, Path: "/data"}}
	ct.Later.IDMaps = []pve.IDMap{{Kind: "u", CT: 0, Host: 100000, Size: 65536}}
	ct.Later.LXCLines = []pve.RawLine{{Key: "lxc.apparmor.profile", Value: "generated"}}
	notes := b.PlanNotes(&engine.Config{Containers: map[int]*engine.Container{960: ct}})
	assert.Equal(t, []string{
		"CT 960: firewall skipped: no Proxmox firewall on this backend",
		"CT 960: zfs_volumes are recorded, not created: no Proxmox storage on this backend",
		"CT 960: AppArmor is not enabled on this host: the lxc.apparmor lines are written, LXC ignores them",
	}, notes)
	b.host.apparmor = true
	assert.Len(t, b.PlanNotes(&engine.Config{Containers: map[int]*engine.Container{960: ct}}), 2)
}
