package engine_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

func driftKeys(ds []engine.Drift) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Key+" "+d.Host+" → "+d.Want)
	}
	return out
}

func TestDriftOfWhatPctCannotChangeInPlace(t *testing.T) {
	t.Parallel()
	created := &engine.Container{CTID: 910, Template: "local:vztmpl/debian-12.tar.zst", StoragePool: "local-lvm", StorageSizeGB: 32,
		Unprivileged: true, Raw: map[string]any{"unprivileged": true}}
	host := map[string]string{"unprivileged": "1", "rootfs": "local-lvm:vm-910-disk-0,size=32G",
		"description": engine.CreatedDescription("local:vztmpl/debian-12.tar.zst")}
	assert.Empty(t, engine.DriftOf(nil, created, host), "a container that matches has no drift")

	ct := *created
	ct.Unprivileged, ct.StoragePool, ct.StorageSizeGB, ct.Template = false, "lxc-disks", 16, "local:vztmpl/ubuntu.tar.zst"
	assert.Equal(t, []string{"unprivileged 1 → 0", "storage_pool local-lvm → lxc-disks", "storage_size_gb 32 → 16",
		"template local:vztmpl/debian-12.tar.zst → local:vztmpl/ubuntu.tar.zst"}, driftKeys(engine.DriftOf(nil, &ct, host)))

	// A larger disk is not drift: it is pct resize.
	ct = *created
	ct.StorageSizeGB = 64
	assert.Empty(t, engine.DriftOf(nil, &ct, host))
	assert.Equal(t, "64G", engine.ResizeRootfs(&ct, host))
	assert.Equal(t, "", engine.ResizeRootfs(created, host))
	// The plan's own new-volume form counts too.
	assert.Equal(t, "64G", engine.ResizeRootfs(&ct, map[string]string{"rootfs": "local-lvm:32"}))

	// Without the provenance line, pct create's ostemplate tells the template.
	noDesc := map[string]string{"unprivileged": "1", "rootfs": "local-lvm:vm-910-disk-0,size=32G", "ostemplate": "local:vztmpl/old.tar.zst"}
	assert.Equal(t, []string{"template local:vztmpl/old.tar.zst → local:vztmpl/debian-12.tar.zst"}, driftKeys(engine.DriftOf(nil, created, noDesc)))
}

func TestDriftOfACloneSource(t *testing.T) {
	t.Parallel()
	clone := &engine.Container{CTID: 910, CloneFrom: 902, Unprivileged: false, Raw: map[string]any{}}
	host := map[string]string{"unprivileged": "1", "description": engine.ClonedDescription(902, "docker-snapshot")}
	assert.Empty(t, engine.DriftOf(nil, clone, host), "an entry without unprivileged takes the host's")

	clone.CloneFrom = 901
	d := engine.DriftOf(nil, clone, host)
	assert.Equal(t, []string{"clone_from_ctid 902 → 901"}, driftKeys(d))
	assert.Equal(t, "clone_from_ctid 902 → 901 (the root disk was copied from it): to apply it, `phoenix destroy --ctid 910` then `phoenix run --ctid 910`, or set clone_from_ctid back to 902 in the config",
		d[0].Line(910))

	// Its source's "created from" line, copied by a clone made by hand, is no finding;
	// nor is a container without any provenance.
	assert.Empty(t, engine.DriftOf(nil, clone, map[string]string{"description": engine.CreatedDescription("t")}))
	assert.Empty(t, engine.DriftOf(nil, clone, map[string]string{"ostemplate": "t"}))

	// The storage pool is the clone's own (pct clone --storage): another
	// one is drift.
	clone.Raw["unprivileged"], clone.Unprivileged, clone.StoragePool = true, true, "lxc-disks"
	assert.Equal(t, []string{"storage_pool local-lvm → lxc-disks"},
		driftKeys(engine.DriftOf(nil, clone, map[string]string{"unprivileged": "1", "rootfs": "local-lvm:vm-910-disk-0,size=4G"})))
}

func TestParseRootfs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]engine.Rootfs{
		"local-lvm:vm-910-disk-0,size=32G":       {Storage: "local-lvm", SizeMiB: 32 * 1024},
		"local-zfs:subvol-910-disk-0,size=512M":  {Storage: "local-zfs", SizeMiB: 512},
		"local:910/vm-910-disk-0.raw,size=1T":    {Storage: "local", SizeMiB: 1024 * 1024},
		"lxc-disks:32":                           {Storage: "lxc-disks", SizeMiB: 32 * 1024},
		"local-lvm:vm-910-disk-0,mp=/,size=4.5G": {Storage: "local-lvm", SizeMiB: 4608},
	} {
		got, ok := engine.ParseRootfs(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	_, ok := engine.ParseRootfs("")
	assert.False(t, ok)
}

func TestChangeDetailShowsOldAndNew(t *testing.T) {
	t.Parallel()
	have := map[string]string{"memory": "2048", "net0": "name=eth0,bridge=vmbr0,hwaddr=52:54:00:AA:BB:CC,ip=10.0.0.200/24,type=veth"}
	opts := []engine.Option{{Key: "memory", Value: "4096"}, {Key: "cores", Value: "4"},
		{Key: "net0", Value: "name=eth0,bridge=vmbr0,ip=10.0.0.99/24,hwaddr=52:54:00:AA:BB:CC"}, {Key: "features", Value: "keyctl=1,nesting=1"}}
	assert.Equal(t, "memory 2048 → 4096; cores (none) → 4; net0.ip 10.0.0.200/24 → 10.0.0.99/24; features.keyctl (none) → 1; features.nesting (none) → 1",
		engine.ChangeDetail(opts, have))
}

// TestDriftOfACloneAgainstItsRoot: a clone's unprivileged is its
// source's (pct clone copies it): the one its entry asks, else the nearest
// source entry's that asks one, compared with the host; a chain where no
// entry says takes the host's. (The config check refuses a clone asking
// otherwise than its source.) Its storage pool is its own (pct clone
// --storage): a host pool that differs is drift, whatever the root's.
func TestDriftOfACloneAgainstItsRoot(t *testing.T) {
	t.Parallel()
	root := &engine.Container{CTID: 900, Unprivileged: true, StoragePool: "local-lvm", Raw: map[string]any{}}
	mid := &engine.Container{CTID: 902, CloneFrom: 900, Unprivileged: true, Raw: map[string]any{}}
	clone := &engine.Container{CTID: 910, CloneFrom: 902, Unprivileged: true, StoragePool: "local-lvm", Raw: map[string]any{"unprivileged": true}}
	cfg := &engine.Config{Containers: map[int]*engine.Container{900: root, 902: mid, 910: clone}}
	host := map[string]string{"rootfs": "lxc-disks:vm-910-disk-0,size=4G"}
	assert.Equal(t, []string{"unprivileged 0 → 1", "storage_pool lxc-disks → local-lvm"}, driftKeys(engine.DriftOf(cfg, clone, host)))

	clone.Unprivileged, clone.StoragePool = false, "other"
	assert.Equal(t, []string{"storage_pool lxc-disks → other"}, driftKeys(engine.DriftOf(cfg, clone, host)))
	clone.StoragePool = "lxc-disks"
	assert.Empty(t, engine.DriftOf(cfg, clone, host))

	// The clone's entry does not say: the root's privileged entry is what
	// it has to be, and the host's unprivileged clone is drift like the
	// root's own (before: "matches").
	delete(clone.Raw, "unprivileged")
	root.Unprivileged, root.Raw["unprivileged"], root.StoragePool = false, false, "lxc-disks"
	unpriv := map[string]string{"unprivileged": "1", "rootfs": "lxc-disks:vm-910-disk-0,size=4G"}
	assert.Equal(t, []string{"unprivileged 1 → 0"}, driftKeys(engine.DriftOf(cfg, clone, unpriv)))
	assert.Equal(t, []string{"unprivileged 1 → 0"}, driftKeys(engine.DriftOf(cfg, root, unpriv)))
	// No entry of the chain says: the host's is taken.
	delete(root.Raw, "unprivileged")
	assert.Empty(t, engine.DriftOf(cfg, clone, unpriv))
}
