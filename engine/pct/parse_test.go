package pct

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

func TestParseStatus(t *testing.T) {
	t.Parallel()
	r, err := parseStatus("status: running\n")
	require.NoError(t, err)
	assert.True(t, r)
	r, err = parseStatus("status: stopped\n")
	require.NoError(t, err)
	assert.False(t, r)
	_, err = parseStatus("status: paused\n")
	assert.ErrorContains(t, err, `unexpected status "paused"`)
	_, err = parseStatus("")
	assert.Error(t, err)
}

func TestParseConfigFromPVE(t *testing.T) {
	t.Parallel()
	out, err := os.ReadFile(filepath.Join("testdata", "config.txt"))
	require.NoError(t, err)
	cfg, err := parseConfig(string(out))
	require.NoError(t, err)
	assert.Equal(t, "name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=BC:24:11:5E:7A:01,ip=10.0.0.101/24,type=veth", cfg["net0"])
	assert.Equal(t, "keyctl=1,nesting=1", cfg["features"])
	assert.Equal(t, "/dev/nvidia0,mode=0666", cfg["dev0"])
	assert.Equal(t, "c 195:* rwm\nc 508:* rwm", cfg["lxc.cgroup2.devices.allow"])
	assert.Equal(t, "/dev/nvidia0 dev/nvidia0 none bind,optional,create=file\n/dev/nvidiactl dev/nvidiactl none bind,optional,create=file", cfg["lxc.mount.entry"])
	assert.Equal(t, "1", cfg["unprivileged"])
	assert.NotContains(t, cfg, "snaptime", "snapshot sections are not the current config")
}

func TestParseConfigRefusesGarbage(t *testing.T) {
	t.Parallel()
	_, err := parseConfig("memory: 512\nthis is not a key line\n")
	assert.ErrorContains(t, err, "line 2")
}

func TestParseSnapshotsFromPVE(t *testing.T) {
	t.Parallel()
	out, err := os.ReadFile(filepath.Join("testdata", "listsnapshot.txt"))
	require.NoError(t, err)
	assert.Equal(t, []string{"base-snapshot", "before_update", "after-docker", "branch"}, parseSnapshots(string(out)))
	assert.Equal(t, []string{}, parseSnapshots("`-> current                                             You are here!\n"))
}

func TestParseList(t *testing.T) {
	t.Parallel()
	out, err := os.ReadFile(filepath.Join("testdata", "list.txt"))
	require.NoError(t, err)
	list, err := parseList(string(out))
	require.NoError(t, err)
	assert.Equal(t, []engine.ListEntry{
		{CTID: 900, Status: "stopped", Name: "Copy-Base"},
		{CTID: 901, Status: "running", Name: "Base-Template-GPU"},
		{CTID: 950, Status: "stopped", Lock: "backup", Name: "vllm-qwen"},
		{CTID: 953, Status: "stopped", Lock: "snapshot-delete", Name: "api-gateway"},
		{CTID: 954, Status: "running", Lock: "mounted"},
		{CTID: 999, Status: "stopped"},
	}, list)

	list, err = parseList("")
	require.NoError(t, err)
	assert.Empty(t, list)
	_, err = parseList("garbage here\n")
	assert.ErrorContains(t, err, "unexpected header")
}

func TestInsertRaw(t *testing.T) {
	t.Parallel()
	conf := "arch: amd64\nhostname: gpu\nlxc.cgroup2.devices.allow: c 195:* rwm\n\n[base]\narch: amd64\nsnaptime: 1756720800\n"
	got, changed := insertRaw(conf, []string{"lxc.cgroup2.devices.allow: c 195:* rwm", "lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file"})
	assert.True(t, changed)
	assert.Equal(t, "arch: amd64\nhostname: gpu\nlxc.cgroup2.devices.allow: c 195:* rwm\n"+
		"lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file\n\n[base]\narch: amd64\nsnaptime: 1756720800\n", got)

	_, changed = insertRaw(got, []string{"lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file"})
	assert.False(t, changed)

	got, changed = insertRaw("hostname: x", []string{"lxc.a: 1", "lxc.a: 1"})
	assert.True(t, changed)
	assert.Equal(t, "hostname: x\nlxc.a: 1\n", got)
}

func TestAppendRawKeepsSnapshotSections(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := New(Options{Path: fakePct, PVEDir: dir, LockDir: filepath.Join(dir, "locks")})
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "lxc"), 0o755))
	conf := "hostname: gpu\n\n[base]\nhostname: gpu\n"
	require.NoError(t, os.WriteFile(b.ConfPath(901), []byte(conf), 0o640))
	require.NoError(t, b.AppendRaw(ctx(t), 901, []string{"lxc.apparmor.profile: unconfined"}))
	got, err := os.ReadFile(b.ConfPath(901))
	require.NoError(t, err)
	assert.Equal(t, "hostname: gpu\nlxc.apparmor.profile: unconfined\n\n[base]\nhostname: gpu\n", string(got))
	assert.FileExists(t, filepath.Join(dir, "locks", "pve-config-901.lock"))
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	e := &Error{Argv: []string{"clone", "900", "902", "--snapname", "base"}, Stderr: "WARN: a\n\nsnapshot 'base' does not exist\n", Err: assert.AnError}
	assert.Equal(t, "pct clone 900 902: WARN: a; snapshot 'base' does not exist: "+assert.AnError.Error(), e.Error())
	assert.False(t, errors.Is(e, engine.ErrNotExist))
	e = &Error{Argv: []string{"config", "950"}, Stderr: "Configuration file 'nodes/pve1/lxc/950.conf' does not exist", Err: assert.AnError}
	assert.True(t, errors.Is(e, engine.ErrNotExist))

	long := strings.Repeat("x", 3000) + "\nthe reason"
	msg := oneLine(long)
	assert.Len(t, msg, maxMessage+3)
	assert.True(t, strings.HasSuffix(msg, "; the reason"))
}
