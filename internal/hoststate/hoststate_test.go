package hoststate

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

func newTestHost(t *testing.T) (*Host, *Files) {
	t.Helper()
	files := NewFiles()
	h := New(files)
	h.Now = func() time.Time { return time.Unix(1700000000, 0) }
	return h, files
}

func refused(t *testing.T, err error, msg string) {
	t.Helper()
	var r *pve.Refusal
	require.True(t, errors.As(err, &r), "want pct's refusal %q, got %v", msg, err)
	assert.Equal(t, msg, r.Msg)
}

func TestCreateRefusesAnExistingCTID(t *testing.T) {
	h, _ := newTestHost(t)
	require.NoError(t, h.Create(900, &Container{Config: map[string]string{"hostname": "a"}}))
	err := h.Create(900, &Container{Config: map[string]string{"hostname": "b"}})
	refused(t, err, "unable to create CT 900 - CT 900 already exists on node 'fake'")
	assert.ErrorIs(t, err, pve.ErrExists)
	assert.Equal(t, "a", h.CTs[900].Config["hostname"], "the refused create changed nothing")
}

func TestVerbsOnAMissingContainerAreRefused(t *testing.T) {
	h, _ := newTestHost(t)
	msg := "Configuration file 'nodes/fake/lxc/901.conf' does not exist"
	for name, err := range map[string]error{
		"set":         h.Set(901, nil, nil),
		"start":       h.Start(901),
		"stop":        h.Stop(901),
		"snapshot":    h.Snapshot(901, "s1", ""),
		"delsnapshot": h.DeleteSnapshot(901, "s1"),
		"rollback":    h.Rollback(901, "s1", false),
		"destroy":     h.Destroy(901),
		"template":    h.Template(901),
		"unlock":      h.Unlock(901),
		"resize":      h.Resize(901, "rootfs", "8G"),
		"append-raw":  h.AppendRaw(901, []string{"lxc.a: b"}),
		"clone":       h.Clone(901, 902, CloneOptions{}),
		"push":        h.CanPush(901),
		"exec":        h.CanExec(901),
	} {
		refused(t, err, msg)
		assert.ErrorIs(t, err, pve.ErrNotExist, name)
	}
	assert.Empty(t, h.CTs)
}

func TestALockRefusesWhatPctRefuses(t *testing.T) {
	h, _ := newTestHost(t)
	require.NoError(t, h.Create(900, &Container{Config: map[string]string{"rootfs": "local:8"}}))
	require.NoError(t, h.Snapshot(900, "s1", ""))
	require.NoError(t, h.Set(900, []pve.Option{{Key: "lock", Value: "backup"}}, nil))
	for name, err := range map[string]error{
		"set":         h.Set(900, []pve.Option{{Key: "memory", Value: "1"}}, nil),
		"start":       h.Start(900),
		"snapshot":    h.Snapshot(900, "s2", ""),
		"delsnapshot": h.DeleteSnapshot(900, "s1"),
		"rollback":    h.Rollback(900, "s1", false),
		"destroy":     h.Destroy(900),
		"template":    h.Template(900),
		"resize":      h.Resize(900, "rootfs", "9G"),
		"clone":       h.Clone(900, 901, CloneOptions{}),
	} {
		refused(t, err, "CT is locked (backup)")
		var l *pve.ErrLocked
		assert.True(t, errors.As(err, &l) && l.Lock == "backup", name)
	}
	// What pct does not lock: exec, push, appending raw lines; and unlock.
	require.NoError(t, h.AppendRaw(900, []string{"lxc.apparmor.profile: unconfined"}))
	require.NoError(t, h.Unlock(900))
	require.NoError(t, h.Start(900))
	require.NoError(t, h.CanExec(900))
	require.NoError(t, h.CanPush(900))
}

func TestRunningState(t *testing.T) {
	h, _ := newTestHost(t)
	require.NoError(t, h.Create(900, &Container{Config: map[string]string{}}))
	refused(t, h.Stop(900), "CT 900 not running")
	refused(t, h.CanPush(900), "CT 900 not running")
	refused(t, h.CanExec(900), "container '900' not running!")
	require.NoError(t, h.Start(900))
	refused(t, h.Start(900), "CT 900 already running")
	refused(t, h.Destroy(900), "CT 900 is running - destroy failed")
	refused(t, h.Template(900), "CT 900 is running - cannot convert to template")
	require.NoError(t, h.Stop(900))
	require.NoError(t, h.Destroy(900))
	assert.Empty(t, h.CTs)
}

func TestACloneOfASnapshotGetsWhatTheSnapshotCaptured(t *testing.T) {
	h, files := newTestHost(t)
	require.NoError(t, h.Create(900, &Container{Config: map[string]string{
		"hostname": "tpl", "memory": "1024", "rootfs": "local:8"}}))
	require.NoError(t, files.Of(900).WriteFile("/etc/a", []byte("then"), 0o644))
	require.NoError(t, h.Snapshot(900, "base", "first"))
	require.NoError(t, h.Set(900, []pve.Option{{Key: "memory", Value: "4096"}}, nil))
	require.NoError(t, files.Of(900).WriteFile("/etc/a", []byte("now"), 0o644))
	refused(t, h.Snapshot(900, "base", ""), "snapshot name 'base' already used")
	refused(t, h.Snapshot(900, "1bad", ""), "400 Parameter verification failed.\nsnapname: invalid format - invalid configuration ID '1bad'")

	refused(t, h.Clone(900, 901, CloneOptions{Snapshot: "nope"}), "snapshot 'nope' does not exist")
	require.NoError(t, h.Clone(900, 901, CloneOptions{Snapshot: "base", Hostname: "c1", Description: "from 900"}))
	c := h.CTs[901]
	assert.Equal(t, map[string]string{"hostname": "c1", "memory": "1024", "description": "from 900",
		"rootfs": "local:8"}, c.Config)
	assert.False(t, c.Running)
	assert.Empty(t, c.Snapshots)
	data, err := files.Of(901).ReadFile("/etc/a")
	require.NoError(t, err)
	assert.Equal(t, "then", string(data))
	refused(t, h.Clone(900, 901, CloneOptions{}), "unable to create CT 901 - CT 901 already exists on node 'fake'")

	require.NoError(t, h.Clone(900, 902, CloneOptions{}))
	assert.Equal(t, "4096", h.CTs[902].Config["memory"], "no --snapname: the current state")
	data, _ = files.Of(902).ReadFile("/etc/a")
	assert.Equal(t, "now", string(data))
}

func TestSnapshotTreeDeleteAndRollback(t *testing.T) {
	h, files := newTestHost(t)
	require.NoError(t, h.Create(900, &Container{Config: map[string]string{"memory": "1"}}))
	require.NoError(t, h.Snapshot(900, "sa", ""))
	require.NoError(t, h.Set(900, []pve.Option{{Key: "memory", Value: "2"}}, []string{"swap"}))
	require.NoError(t, files.Of(900).WriteFile("/x", []byte("2"), 0o644))
	require.NoError(t, h.Snapshot(900, "sb", ""))
	assert.Equal(t, "sa", h.CTs[900].Snapshot("sb").Parent)
	assert.Equal(t, "sb", h.CTs[900].Parent)

	refused(t, h.DeleteSnapshot(900, "zz"), "snapshot 'zz' does not exist")
	refused(t, h.Rollback(900, "zz", false), "snapshot 'zz' does not exist")
	require.NoError(t, h.DeleteSnapshot(900, "sa"))
	assert.Equal(t, []string{"sb"}, h.CTs[900].SnapshotNames())
	assert.Equal(t, "", h.CTs[900].Snapshot("sb").Parent, "b hangs from sa's parent")

	require.NoError(t, h.Set(900, []pve.Option{{Key: "memory", Value: "3"}}, nil))
	require.NoError(t, files.Of(900).WriteFile("/x", []byte("3"), 0o644))
	require.NoError(t, h.Rollback(900, "sb", true))
	assert.Equal(t, "2", h.CTs[900].Config["memory"])
	assert.True(t, h.CTs[900].Running, "--start")
	data, _ := files.Of(900).ReadFile("/x")
	assert.Equal(t, "2", string(data))
}

func TestTemplateAndLinkedClones(t *testing.T) {
	h, _ := newTestHost(t)
	require.NoError(t, h.Create(900, &Container{Config: map[string]string{"rootfs": "local:vm-900-disk-0,size=8G"}}))
	require.NoError(t, h.Snapshot(900, "s1", ""))
	refused(t, h.Template(900), "you can't convert a CT to template if the CT has snapshots")
	require.NoError(t, h.DeleteSnapshot(900, "s1"))
	require.NoError(t, h.Template(900))
	assert.Equal(t, "local:base-900-disk-0,size=8G", h.CTs[900].Config["rootfs"])
	refused(t, h.Template(900), "CT 900 is already a template")
	refused(t, h.Start(900), "CT 900 is a template - start failed")

	require.NoError(t, h.Clone(900, 901, CloneOptions{}))
	require.NoError(t, h.Clone(900, 902, CloneOptions{Full: true}))
	assert.Equal(t, 900, h.CTs[901].LinkedTo)
	assert.Equal(t, 0, h.CTs[902].LinkedTo, "--full")
	assert.False(t, h.CTs[901].IsTemplate())
	err := h.Destroy(900)
	refused(t, err, "base volume 'local:base-900-disk-0' is still in use by linked cloned")
	assert.ErrorIs(t, err, pve.ErrLinkedClones)
	require.NoError(t, h.Destroy(901))
	require.NoError(t, h.Destroy(900))
}

func TestResizeOnlyGrows(t *testing.T) {
	h, _ := newTestHost(t)
	require.NoError(t, h.Create(900, &Container{Config: map[string]string{"rootfs": "local:vm-900-disk-0,size=8G", "mp0": "local:16,mp=/d"}}))
	require.NoError(t, h.Resize(900, "rootfs", "+2G"))
	assert.Equal(t, "local:vm-900-disk-0,size=10G", h.CTs[900].Config["rootfs"])
	require.NoError(t, h.Resize(900, "mp0", "32G"))
	assert.Equal(t, "local:32,mp=/d", h.CTs[900].Config["mp0"])
	refused(t, h.Resize(900, "rootfs", "4G"), "unable to shrink disk size")
	refused(t, h.Resize(900, "rootfs", "lots"), "400 Parameter verification failed.\nsize: value does not match the regex pattern")
	refused(t, h.Resize(900, "mp9", "4G"), "400 Parameter verification failed.\ndisk: no such disk 'mp9'")
	assert.Equal(t, "local:vm-900-disk-0,size=10G", h.CTs[900].Config["rootfs"], "refusals changed nothing")
}

func TestSetAppliesOptionsThenDeletes(t *testing.T) {
	h, _ := newTestHost(t)
	require.NoError(t, h.Create(900, &Container{Config: map[string]string{"swap": "512", "memory": "1"}}))
	require.NoError(t, h.Set(900, []pve.Option{{Key: "memory", Value: "2"}, {Key: "digest", Value: "x"}}, []string{"swap"}))
	assert.Equal(t, map[string]string{"memory": "2"}, h.CTs[900].Config)
	require.NoError(t, h.AppendRaw(900, []string{"lxc.mount.entry: a", "lxc.mount.entry: b"}))
	assert.Equal(t, "a\nb", h.CTs[900].Config["lxc.mount.entry"])
}

func TestCopyIsDeep(t *testing.T) {
	c := &Container{Config: map[string]string{"a": "1"}, Snapshots: []Snapshot{{Name: "s", Config: map[string]string{"a": "0"}}}}
	cp := c.Copy()
	cp.Config["a"] = "2"
	cp.Snapshots[0].Config["a"] = "9"
	assert.Equal(t, "1", c.Config["a"])
	assert.Equal(t, "0", c.Snapshots[0].Config["a"])
}
