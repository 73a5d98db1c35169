package pct

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/fakepct"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

func TestNewWithoutPct(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := New(Options{})
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, engine.ExitEnvironment, engine.ExitCode(err))
	assert.EqualError(t, err, "pct not found on PATH: is this a Proxmox VE host? use --backend lxc or --dry-run")

	_, err = New(Options{Path: filepath.Join(t.TempDir(), "pct")})
	require.ErrorIs(t, err, ErrNotFound)
}

func TestNewFindsPctOnPath(t *testing.T) {
	t.Setenv("PATH", filepath.Dir(fakePct))
	b, err := New(Options{})
	require.NoError(t, err)
	assert.Equal(t, fakePct, b.Path())
	assert.Equal(t, "pct", b.Name())
}

func TestCreateTwiceKeepsPctMessage(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901, engine.Option{Key: "hostname", Value: "gpu"})
	err := h.Create(ctx(t), engine.CreateSpec{CTID: 901, Template: "t"})
	require.Error(t, err)
	assert.Equal(t, "pct create 901: unable to create CT 901 - CT 901 already exists on node 'fake': exit status 255", err.Error())
	var pe *Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 255, pe.ExitCode())
	assert.False(t, errors.Is(err, engine.ErrNotExist))
}

func TestStatus(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	st, err := h.Status(ctx(t), 950)
	require.NoError(t, err, "a missing container is not an error")
	assert.Equal(t, engine.Status{}, st)

	h.create(t, 950)
	st, err = h.Status(ctx(t), 950)
	require.NoError(t, err)
	assert.Equal(t, engine.Status{Exists: true}, st)

	require.NoError(t, h.Start(ctx(t), 950))
	ct, err := fakepct.Load(h.state, 950)
	require.NoError(t, err)
	ct.Lock = "backup"
	require.NoError(t, fakepct.Save(h.state, 950, ct))
	st, err = h.Status(ctx(t), 950)
	require.NoError(t, err)
	assert.Equal(t, engine.Status{Exists: true, Running: true, Lock: "backup"}, st)
}

func TestMissingContainerReads(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	_, err := h.Config(ctx(t), 950)
	require.ErrorIs(t, err, engine.ErrNotExist)
	assert.Contains(t, err.Error(), "Configuration file 'nodes/fake/lxc/950.conf' does not exist")
	_, err = h.ListSnapshots(ctx(t), 950)
	require.ErrorIs(t, err, engine.ErrNotExist)
	err = h.Start(ctx(t), 950)
	require.ErrorIs(t, err, engine.ErrNotExist)
	_, err = h.Exec(ctx(t), 950, []string{"true"}, engine.ExecOptions{})
	require.ErrorIs(t, err, engine.ErrNotExist)
}

func TestConfigAndNet0AsProxmoxStoresIt(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901,
		engine.Option{Key: "hostname", Value: "gpu"},
		engine.Option{Key: "memory", Value: "4096"},
		engine.Option{Key: "net0", Value: "name=eth0,ip=10.0.0.10/24,gw=10.0.0.1,bridge=vmbr0"},
		engine.Option{Key: "features", Value: "nesting=1,keyctl=1"},
		engine.Option{Key: "rootfs", Value: "local-lvm:64"},
	)
	cfg, err := h.Config(ctx(t), 901)
	require.NoError(t, err)
	assert.Equal(t, "gpu", cfg["hostname"])
	assert.Equal(t, "4096", cfg["memory"])
	assert.Equal(t, "keyctl=1,nesting=1", cfg["features"])
	assert.Equal(t, "local-lvm:vm-901-disk-0,size=64G", cfg["rootfs"])
	assert.Regexp(t, `^name=eth0,bridge=vmbr0,gw=10\.0\.0\.1,hwaddr=BC:24:11:[0-9A-F:]{8},ip=10\.0\.0\.10/24,type=veth$`, cfg["net0"])

	require.NoError(t, h.Set(ctx(t), 901, []engine.Option{{Key: "cores", Value: "8"}}, []string{"memory"}))
	cfg, err = h.Config(ctx(t), 901)
	require.NoError(t, err)
	assert.Equal(t, "8", cfg["cores"])
	assert.NotContains(t, cfg, "memory")
	calls := h.calls(t)
	assert.Equal(t, []string{"set", "901", "--cores", "8", "--delete", "memory"}, calls[len(calls)-1])
	for _, c := range calls {
		assert.NotEqual(t, "config", c[0], "the config is read from <PVEDir>/lxc/901.conf, not with pct config")
	}
}

// Without a readable config file, pct answers.
func TestConfigFallsBackToPct(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901, engine.Option{Key: "hostname", Value: "gpu"})
	require.NoError(t, os.Rename(filepath.Join(h.state, "pve"), filepath.Join(h.state, "elsewhere")))
	cfg, err := h.Config(ctx(t), 901)
	require.NoError(t, err)
	assert.Equal(t, "gpu", cfg["hostname"])
	calls := h.calls(t)
	assert.Equal(t, []string{"config", "901"}, calls[len(calls)-1])
}

func TestAppendRawShowsInConfig(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901, engine.Option{Key: "hostname", Value: "gpu"})
	lines := []string{
		"lxc.cgroup2.devices.allow: c 195:* rwm",
		"lxc.cgroup2.devices.allow: c 508:* rwm",
		"lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file",
	}
	require.NoError(t, h.AppendRaw(ctx(t), 901, lines))
	require.NoError(t, h.AppendRaw(ctx(t), 901, lines), "appending again adds nothing")
	cfg, err := h.Config(ctx(t), 901)
	require.NoError(t, err)
	assert.Equal(t, "c 195:* rwm\nc 508:* rwm", cfg["lxc.cgroup2.devices.allow"])
	assert.Equal(t, "/dev/nvidia0 dev/nvidia0 none bind,optional,create=file", cfg["lxc.mount.entry"])
	assert.Equal(t, "gpu", cfg["hostname"])

	err = h.AppendRaw(ctx(t), 999, lines)
	require.ErrorIs(t, err, engine.ErrNotExist)
	assert.NoFileExists(t, h.ConfPath(999), "AppendRaw never creates a config")
}

func TestListSnapshotsAndClone(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 900, engine.Option{Key: "hostname", Value: "tmpl"})
	snaps, err := h.ListSnapshots(ctx(t), 900)
	require.NoError(t, err)
	assert.Empty(t, snaps)
	require.NoError(t, h.Snapshot(ctx(t), 900, "base-snapshot"))
	require.NoError(t, h.Snapshot(ctx(t), 900, "after-docker"))
	err = h.Snapshot(ctx(t), 900, "after-docker")
	assert.ErrorContains(t, err, "pct snapshot 900: snapshot name 'after-docker' already used: exit status 255")
	snaps, err = h.ListSnapshots(ctx(t), 900)
	require.NoError(t, err)
	assert.Equal(t, []string{"base-snapshot", "after-docker"}, snaps)

	err = h.Clone(ctx(t), engine.CloneSpec{Source: 900, CTID: 902, Snapshot: "nope"})
	assert.ErrorContains(t, err, "pct clone 900 902: snapshot 'nope' does not exist")
	require.NoError(t, h.Clone(ctx(t), engine.CloneSpec{Source: 900, CTID: 902, Snapshot: "base-snapshot", Hostname: "child", Full: true}))
	cfg, err := h.Config(ctx(t), 902)
	require.NoError(t, err)
	assert.Equal(t, "child", cfg["hostname"])
}

func TestList(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	list, err := h.List(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, list)
	h.create(t, 901, engine.Option{Key: "hostname", Value: "gpu"})
	h.create(t, 120, engine.Option{Key: "hostname", Value: "dns"})
	h.create(t, 130)
	require.NoError(t, h.Start(ctx(t), 901))
	ct, err := fakepct.Load(h.state, 120)
	require.NoError(t, err)
	ct.Lock = "snapshot-delete"
	require.NoError(t, fakepct.Save(h.state, 120, ct))
	list, err = h.List(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, []engine.ListEntry{
		{CTID: 120, Status: "stopped", Lock: "snapshot-delete", Name: "dns"},
		{CTID: 130, Status: "stopped"},
		{CTID: 901, Status: "running", Name: "gpu"},
	}, list)
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901)
	require.NoError(t, h.Start(ctx(t), 901))
	assert.ErrorContains(t, h.Start(ctx(t), 901), "CT 901 already running")
	assert.ErrorContains(t, h.Destroy(ctx(t), 901), "CT 901 is running - destroy failed")
	require.NoError(t, h.Shutdown(ctx(t), 901, 30*time.Second))
	assert.ErrorContains(t, h.Stop(ctx(t), 901), "CT 901 not running")
	require.NoError(t, h.Start(ctx(t), 901))
	require.NoError(t, h.Stop(ctx(t), 901))
	require.NoError(t, h.Destroy(ctx(t), 901))
	st, err := h.Status(ctx(t), 901)
	require.NoError(t, err)
	assert.False(t, st.Exists)
	assert.Contains(t, h.calls(t), []string{"shutdown", "901", "--timeout", "30"})
}

func TestLockRefusesSet(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901)
	require.NoError(t, fakepct.Save(h.state, 901, &fakepct.Container{Lock: "backup"}))
	err := h.Set(ctx(t), 901, []engine.Option{{Key: "memory", Value: "1024"}}, nil)
	assert.EqualError(t, err, "pct set 901: CT is locked (backup): exit status 255")
}

func TestExecCodes(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901)
	_, err := h.Exec(ctx(t), 901, []string{"true"}, engine.ExecOptions{})
	assert.ErrorContains(t, err, "pct exec 901: container '901' not running!: exit status 255")
	require.NoError(t, h.Start(ctx(t), 901))

	require.NoError(t, fakepct.WriteExecRules(h.state, []fakepct.ExecRule{
		{Match: `^exit255$`, Code: 255, Stderr: "the command's own failure\n"},
		{Match: `^printf`, Stdout: "one\ntwo\nthree", Stderr: "warn\n", Code: 3},
		{Match: `^slow$`, Sleep: "10s"},
	}))
	res, err := h.Exec(ctx(t), 901, []string{"true"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, engine.ExecResult{}, res)
	res, err = h.Exec(ctx(t), 901, []string{"false"}, engine.ExecOptions{})
	require.NoError(t, err, "a non-zero exit of the command is not an error")
	assert.Equal(t, 1, res.Code)
	res, err = h.Exec(ctx(t), 901, []string{"exit255"}, engine.ExecOptions{})
	require.NoError(t, err, "255 without a pct message is the command's code")
	assert.Equal(t, engine.ExecResult{Code: 255, Stderr: "the command's own failure\n"}, res)

	var so, se safeBuffer
	res, err = h.Exec(ctx(t), 901, []string{"printf", "x"}, engine.ExecOptions{Stdout: &so, Stderr: &se, Env: map[string]string{"B": "2", "A": "1"}})
	require.NoError(t, err)
	assert.Equal(t, engine.ExecResult{Code: 3, Stdout: "one\ntwo\nthree", Stderr: "warn\n"}, res)
	assert.Equal(t, "one\ntwo\nthree", so.String(), "teed, the unterminated last line included")
	assert.Equal(t, "warn\n", se.String())
	// The environment is not on pct's command line (ps shows it): it went
	// in a pushed 0600 file that the exec's wrapper read and removed.
	calls := h.calls(t)
	push, exec := calls[len(calls)-2], calls[len(calls)-1]
	require.Len(t, push, 6)
	assert.Equal(t, []string{"push", "901"}, push[:2])
	assert.Regexp(t, `^/tmp/\.phoenix-env-[0-9a-f]{16}$`, push[3])
	assert.Equal(t, []string{"--perms", "0600"}, push[4:])
	assert.Equal(t, []string{"exec", "901", "--", "sh", "-c", pve.EnvFileScript, push[3], "printf", "x"}, exec)
	assert.NoFileExists(t, filepath.Join(fakepct.RootfsPath(h.state, 901), push[3]))

	res, err = h.Exec(ctx(t), 901, []string{"cat"}, engine.ExecOptions{Stdin: []byte("fed on stdin")})
	require.NoError(t, err)
	assert.Equal(t, "fed on stdin", res.Stdout)

	start := time.Now()
	_, err = h.Exec(ctx(t), 901, []string{"slow"}, engine.ExecOptions{Timeout: 300 * time.Millisecond})
	assert.ErrorContains(t, err, "pct exec 901: timed out after 300ms")
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestExecWithoutDashDashIsRefusedByFake(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901)
	require.NoError(t, h.Start(ctx(t), 901))
	// The backend always puts "--"; pct without it fails as below.
	_, err := h.run(ctx(t), invocation{argv: []string{"exec", "901", "sh", "-c", "true"}})
	assert.ErrorContains(t, err, "pct exec 901: Unknown option: c; 400 unable to parse option")
	assert.NotContains(t, err.Error(), "\n", "one line")
	var pe *Error
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, pe.Stderr, "\n", "the full message is kept")
	res, err := h.Exec(ctx(t), 901, []string{"sh", "-c", "true"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, 0, res.Code)
}

func TestPushThenCat(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901)
	err := h.Push(ctx(t), 901, "/etc/x", []byte("x"), engine.PushOptions{})
	assert.ErrorContains(t, err, "pct push 901: CT 901 not running")
	require.NoError(t, h.Start(ctx(t), 901))
	content := []byte("secret token\n")
	require.NoError(t, h.Push(ctx(t), 901, "/root/.token", content, engine.PushOptions{Perms: "0600"}))
	res, err := h.Exec(ctx(t), 901, []string{"cat", "/root/.token"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, string(content), res.Stdout)

	calls := h.calls(t)
	last := calls[len(calls)-2]
	require.Len(t, last, 6)
	assert.Equal(t, []string{"push", "901"}, last[:2])
	assert.Equal(t, []string{"/root/.token", "--perms", "0600"}, last[3:])
	assert.NoFileExists(t, last[2], "the temporary file is removed")
}

func TestInjectedFailureAndStderrTee(t *testing.T) {
	t.Parallel()
	var se safeBuffer
	h := newHost(t, "FAKE_PCT_FAIL=start:901")
	h.stderr = &se
	h.create(t, 901)
	err := h.Start(ctx(t), 901)
	assert.EqualError(t, err, "pct start 901: fake failure injected: exit status 255")
	assert.Equal(t, "fake failure injected\n", se.String())
	require.NoError(t, fakepct.Save(h.state, 901, &fakepct.Container{Running: true}))
	require.NoError(t, fakepct.WriteExecRules(h.state, []fakepct.ExecRule{{Match: "noisy", Stderr: "hook output\n"}}))
	_, err = h.Exec(ctx(t), 901, []string{"noisy"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, "fake failure injected\n", se.String(), "a command's stderr is not pct's")
}

func TestExecCancelled(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901)
	require.NoError(t, h.Start(ctx(t), 901))
	require.NoError(t, fakepct.WriteExecRules(h.state, []fakepct.ExecRule{{Match: `^slow$`, Sleep: "10s"}}))
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := h.Exec(c, 901, []string{"slow"}, engine.ExecOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPushTempFileIsPrivate(t *testing.T) {
	t.Parallel()
	// The content may be a secret: the file pct reads must be 0600.
	dir := t.TempDir()
	script := filepath.Join(dir, "pct")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nstat -c %a \"$3\" > "+filepath.Join(dir, "mode")+"\n"), 0o755))
	b, err := New(Options{Path: script})
	require.NoError(t, err)
	require.NoError(t, b.Push(ctx(t), 901, "/x", []byte("s"), engine.PushOptions{}))
	mode, err := os.ReadFile(filepath.Join(dir, "mode"))
	require.NoError(t, err)
	assert.Equal(t, "600", strings.TrimSpace(string(mode)))
}

func TestOptionsFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{EnvPVEDir: "/tmp/state/pve"}
	o := OptionsFromEnv(func(k string) string { return env[k] })
	assert.Equal(t, Options{PVEDir: "/tmp/state/pve"}, o)
	o.Path = fakePct
	b, err := New(o)
	require.NoError(t, err)
	assert.Equal(t, "/tmp/state/pve/lxc/901.conf", b.ConfPath(901))
	assert.Equal(t, "/tmp/state/pve/lock", b.lockDir, "a test's PVEDir keeps its locks")

	b, err = New(Options{Path: fakePct})
	require.NoError(t, err)
	assert.Equal(t, "/etc/pve/lxc/901.conf", b.ConfPath(901))
	assert.Equal(t, "/run/lock/lxc", b.lockDir)
}

func TestCancelKillsTheWholeGroup(t *testing.T) {
	t.Parallel()
	// A pct that ignores SIGTERM and whose child keeps stdout open.
	dir := t.TempDir()
	script := filepath.Join(dir, "pct")
	pidFile := filepath.Join(dir, "child")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\ntrap '' TERM\nsleep 30 &\necho $! > "+pidFile+"\nsleep 30\n"), 0o755))
	b, err := New(Options{Path: script})
	require.NoError(t, err)
	b.killGrace = 200 * time.Millisecond
	start := time.Now()
	_, err = b.Exec(ctx(t), 901, []string{"true"}, engine.ExecOptions{Timeout: 200 * time.Millisecond})
	assert.ErrorContains(t, err, "timed out after 200ms")
	assert.Less(t, time.Since(start), 20*time.Second, "SIGKILL after the grace period, not the script's 30 s")

	data, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	var child int
	_, err = fmt.Sscan(string(data), &child)
	require.NoError(t, err)
	assert.Eventually(t, func() bool { return syscall.Kill(child, 0) == syscall.ESRCH },
		3*time.Second, 20*time.Millisecond, "pct's child %d is killed with it", child)
}

// TestEditRawConvergesOnTheFakePct: MergeRaw's edit through pct. The
// NVIDIA lines and an admin's prlimit stay; Phoenix's old id map is
// replaced as a set; the record reaches the description through pct set;
// a second merge of the same config is empty.
func TestEditRawConvergesOnTheFakePct(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.create(t, 901, engine.Option{Key: "hostname", Value: "gpu"}, engine.Option{Key: "description", Value: "phoenix: created from t.tar.zst"})
	require.NoError(t, h.AppendRaw(ctx(t), 901, []string{
		"lxc.cgroup2.devices.allow: c 195:* rwm",
		"lxc.idmap: u 0 100000 65536",
		"lxc.idmap: g 0 100000 65536",
		"lxc.prlimit.nofile: 4096",
	}))
	want := []pve.RawLine{
		{Key: "lxc.idmap", Value: "u 0 100000 65536"},
		{Key: "lxc.idmap", Value: "g 0 100000 33"},
		{Key: "lxc.idmap", Value: "g 33 33 1"},
		{Key: "lxc.idmap", Value: "g 34 100034 65502"},
		{Key: "lxc.apparmor.profile", Value: "unconfined"},
	}
	have, err := h.Config(ctx(t), 901)
	require.NoError(t, err)
	edit := pve.MergeRaw(have, want)
	require.NoError(t, h.EditRaw(ctx(t), 901, edit))

	cfg, err := h.Config(ctx(t), 901)
	require.NoError(t, err)
	assert.Equal(t, "u 0 100000 65536\ng 0 100000 33\ng 33 33 1\ng 34 100034 65502", cfg["lxc.idmap"])
	assert.Equal(t, "unconfined", cfg["lxc.apparmor.profile"])
	assert.Equal(t, "c 195:* rwm", cfg["lxc.cgroup2.devices.allow"])
	assert.Equal(t, "4096", cfg["lxc.prlimit.nofile"], "a key Phoenix never wrote stays")
	assert.Equal(t, "phoenix: created from t.tar.zst\n"+`phoenix: raw lines ["lxc.idmap","lxc.apparmor.profile"]`, cfg["description"])
	conf, err := os.ReadFile(h.ConfPath(901))
	require.NoError(t, err)
	assert.Contains(t, string(conf), "#phoenix%3A raw lines", "pct keeps the description as encoded comment lines")
	assert.Equal(t, 4, strings.Count(string(conf), "lxc.idmap:"), "no old lxc.idmap line beside the new ones")
	calls := h.calls(t)
	assert.Equal(t, []string{"set", "901", "--description", "phoenix: created from t.tar.zst\n" + `phoenix: raw lines ["lxc.idmap","lxc.apparmor.profile"]`}, calls[len(calls)-1])

	assert.True(t, pve.MergeRaw(cfg, want).Empty(), "converged: nothing to edit")
	n := len(h.calls(t))
	require.NoError(t, h.EditRaw(ctx(t), 901, pve.MergeRaw(cfg, want)))
	assert.Len(t, h.calls(t), n, "an empty edit makes no pct call")
}
