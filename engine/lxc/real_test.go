package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Tests on real LXC containers: they run as root (CI is root), skip
// otherwise, and fail when LXC's tools are missing, since make test and
// .ci/run install them (.ci/install-deps).
// Every container lives in a t.TempDir() lxcpath and is destroyed by
// t.Cleanup, also when the test fails. Containers have no network.

func requireLXC(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: real LXC containers")
	}
	for _, t := range append(tools, "rsync", "debootstrap") {
		if _, err := exec.LookPath(t); err != nil {
			tb.Fatalf("%s not found: run .ci/install-deps as root (it installs the packages of .ci/packages: lxc, rsync, debootstrap, ...)", t)
		}
	}
	sweepOnce.Do(func() {
		tmp := os.TempDir()
		sweepStale(tb, filepath.Join(tmp, "*", "*", ownerFile), filepath.Join(tmp, "*", "*", "*", ownerFile))
	})
}

// ownerFile, in a test's lxcpath, holds the pid of the test process that
// owns it, so that a later run can clean up after a killed one.
const ownerFile = ".phoenix-test-owner"

var sweepOnce sync.Once

// sweepStale destroys what a killed test binary left behind (go test
// -timeout, SIGKILL: no cleanup ran): the containers of every lxcpath
// whose owner file (found by the glob patterns) names a process that is
// gone. Live owners (a concurrent test run) are left alone.
func sweepStale(tb testing.TB, patterns ...string) {
	for _, pat := range patterns {
		marks, _ := filepath.Glob(pat)
		for _, m := range marks {
			data, err := os.ReadFile(m)
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil || processAlive(pid) {
				continue
			}
			dir := filepath.Dir(m)
			b, err := newBackend(Options{LXCPath: dir})
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			err = b.DestroyAll(ctx)
			cancel()
			if err != nil {
				tb.Logf("stale test containers in %s (test process %d is gone): %v", dir, pid, err)
				continue
			}
			_ = os.RemoveAll(dir)
			tb.Logf("destroyed the containers a killed test (process %d) left in %s", pid, dir)
		}
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// testRootfs returns the cached minimal rootfs, building it on first use.
func testRootfs(tb testing.TB) string {
	tb.Helper()
	start := time.Now()
	dir, built, err := EnsureRootfs(context.Background(), RootfsOptions{})
	require.NoError(tb, err)
	if built {
		tb.Logf("built rootfs %s in %s", dir, time.Since(start).Round(time.Millisecond))
	}
	return dir
}

// newRealBackend is a Backend on a private lxcpath, emptied at cleanup.
func newRealBackend(tb testing.TB) *Backend {
	tb.Helper()
	return newRealBackendAt(tb, tb.TempDir())
}

// newRealBackendAt is a Backend on lxcpath path, emptied at cleanup (which
// runs when the test passes, fails or panics), and a check that the
// host's own lxcpath (/var/lib/lxc) was not touched.
func newRealBackendAt(tb testing.TB, path string) *Backend {
	tb.Helper()
	requireLXC(tb)
	require.NotEqual(tb, DefaultLXCPath, path, "tests never use the host's lxcpath")
	b, err := New(Options{LXCPath: path, Network: NetworkNone})
	require.NoError(tb, err)
	require.NoError(tb, os.MkdirAll(path, 0o755))
	// The root of an unprivileged container (host uid 100000) must reach
	// its rootfs: t.TempDir()'s directories are 0700.
	for dir := path; strings.HasPrefix(dir, os.TempDir()+"/"); dir = filepath.Dir(dir) {
		require.NoError(tb, os.Chmod(dir, 0o755))
	}
	owner := filepath.Join(path, ownerFile)
	require.NoError(tb, os.WriteFile(owner, []byte(strconv.Itoa(os.Getpid())), 0o644))
	before := hostLXCPathState()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if assert.NoError(tb, b.DestroyAll(ctx), "cleanup") {
			_ = os.Remove(owner)
		}
		assert.Equal(tb, before, hostLXCPathState(), "the host's %s is untouched", DefaultLXCPath)
	})
	return b
}

// hostLXCPathState is what a test could change in /var/lib/lxc: its
// entries and its modification time ("absent" when there is none).
func hostLXCPathState() string {
	fi, err := os.Stat(DefaultLXCPath)
	if err != nil {
		return "absent"
	}
	ents, _ := os.ReadDir(DefaultLXCPath)
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return fi.ModTime().String() + " " + strings.Join(names, ",")
}

func execOK(t *testing.T, b *Backend, ctid int, argv ...string) string {
	t.Helper()
	res, err := b.Exec(context.Background(), ctid, argv, engine.ExecOptions{})
	require.NoError(t, err)
	require.Equal(t, 0, res.Code, "%v: %s", argv, res.Stderr)
	return res.Stdout
}

func TestRealContainerLifecycle(t *testing.T) {
	b := newRealBackend(t)
	rootfs := testRootfs(t)
	ctx := context.Background()

	st, err := b.Status(ctx, 100)
	require.NoError(t, err)
	assert.False(t, st.Exists)
	_, err = b.Config(ctx, 100)
	assert.ErrorIs(t, err, engine.ErrNotExist)

	spec := engine.CreateSpec{CTID: 100, Template: rootfs, Options: []engine.Option{
		{Key: "hostname", Value: "base"}, {Key: "memory", Value: "256"}, {Key: "cores", Value: "1"},
		{Key: "rootfs", Value: "local-lvm:4"}, {Key: "net0", Value: "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1"},
		{Key: "features", Value: "nesting=1"},
	}}
	require.NoError(t, b.Create(ctx, spec))
	err = b.Create(ctx, spec)
	require.ErrorContains(t, err, "already exists")

	cfg, err := b.Config(ctx, 100)
	require.NoError(t, err)
	assert.Equal(t, "base", cfg["hostname"])
	assert.Equal(t, "256", cfg["memory"])
	assert.Equal(t, "1", cfg["cores"])
	assert.Equal(t, "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1", cfg["net0"])
	assert.Equal(t, "empty", cfg["lxc.net.0.type"])

	require.NoError(t, b.Start(ctx, 100))
	assert.ErrorContains(t, b.Start(ctx, 100), "already running")
	require.NoError(t, b.WaitReady(ctx, 100, 30*time.Second))
	st, err = b.Status(ctx, 100)
	require.NoError(t, err)
	assert.Equal(t, engine.Status{Exists: true, Running: true}, st)

	// Exec: exit codes are the command's own.
	var streamed strings.Builder
	res, err := b.Exec(ctx, 100, []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, engine.ExecOptions{Stdout: &streamed})
	require.NoError(t, err)
	assert.Equal(t, engine.ExecResult{Code: 7, Stdout: "out\n", Stderr: "err\n"}, res)
	assert.Equal(t, "out\n", streamed.String(), "output also goes to the given writer")
	res, err = b.Exec(ctx, 100, []string{"sh", "-c", "kill -TERM $$"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, 143, res.Code, "killed by a signal: 128+N")
	res, err = b.Exec(ctx, 100, []string{"no-such-command"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, 127, res.Code)
	res, err = b.Exec(ctx, 100, []string{"sh", "-c", `printf '%s|' "$A"; cat`}, engine.ExecOptions{Env: map[string]string{"A": "x y"}, Stdin: []byte("in")})
	require.NoError(t, err)
	assert.Equal(t, "x y|in", res.Stdout)
	// "--" keeps the command's flags its own.
	assert.Equal(t, "x", execOK(t, b, 100, "echo", "-n", "x"))
	assert.Equal(t, "base\n", execOK(t, b, 100, "hostname"))
	requireNoNetwork(t, b, 100)
	// memory and cores are the container's cgroup limits, not only settings.
	memKey, cpuKey, wantCPU := "memory.max", "cpu.max", "100000 100000"
	if !b.host.cgroup2 {
		memKey, cpuKey, wantCPU = "memory.limit_in_bytes", "cpu.cfs_quota_us", "100000"
	}
	assert.Equal(t, "268435456", lxcCgroup(t, b, 100, memKey), "memory 256 MiB")
	assert.Equal(t, wantCPU, lxcCgroup(t, b, 100, cpuKey), "1 core")

	// Push creates the directory and applies the mode.
	require.NoError(t, b.Push(ctx, 100, "/etc/phoenix/marker", []byte("hello\n"), engine.PushOptions{Perms: "0600"}))
	assert.Equal(t, "600 hello\n", execOK(t, b, 100, "sh", "-c", "stat -c %a /etc/phoenix/marker | tr '\\n' ' '; cat /etc/phoenix/marker"))

	// Snapshot of a running container: stopped, snapshotted, started.
	require.NoError(t, b.Snapshot(ctx, 100, "base-snap"))
	st, _ = b.Status(ctx, 100)
	assert.True(t, st.Running, "running again after the snapshot")
	assert.ErrorContains(t, b.Snapshot(ctx, 100, "base-snap"), "already used")
	assert.ErrorContains(t, b.Snapshot(ctx, 100, "bad name"), "invalid snapshot name")
	snaps, err := b.ListSnapshots(ctx, 100)
	require.NoError(t, err)
	assert.Equal(t, []string{"base-snap"}, snaps)
	require.NoError(t, b.WaitReady(ctx, 100, 30*time.Second))
	execOK(t, b, 100, "touch", "/after-snapshot")

	// Overlay clone of the snapshot.
	assert.ErrorContains(t, b.Clone(ctx, engine.CloneSpec{Source: 100, CTID: 101, Snapshot: "nope"}), "does not exist")
	require.NoError(t, b.Clone(ctx, engine.CloneSpec{Source: 100, CTID: 101, Snapshot: "base-snap", Hostname: "clone"}))
	cfg, err = b.Config(ctx, 101)
	require.NoError(t, err)
	assert.Equal(t, "clone", cfg["hostname"])
	assert.Equal(t, "256", cfg["memory"], "a clone keeps its source's settings")
	assert.Equal(t, "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1", cfg["net0"], "pct options survive the clone")
	assert.Contains(t, cfg["lxc.rootfs.path"], "overlay")
	require.NoError(t, b.Set(ctx, 101, []engine.Option{{Key: "memory", Value: "128"}}, nil))
	require.NoError(t, b.Start(ctx, 101))
	require.NoError(t, b.WaitReady(ctx, 101, 30*time.Second))
	assert.Equal(t, "clone\n", execOK(t, b, 101, "hostname"))
	assert.Equal(t, "134217728", lxcCgroup(t, b, 101, memKey), "the clone's own memory, set before its start")
	assert.Equal(t, "clone\n", execOK(t, b, 101, "cat", "/etc/hostname"))
	assert.Equal(t, "base\n", execOK(t, b, 100, "cat", "/etc/hostname"), "the source's own is untouched")
	assert.Equal(t, "hello\n", execOK(t, b, 101, "cat", "/etc/phoenix/marker"), "the snapshot's files")
	res, err = b.Exec(ctx, 101, []string{"test", "-e", "/after-snapshot"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Code, "not what the source did after the snapshot")

	list, err := b.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []engine.ListEntry{{CTID: 100, Status: "running", Name: "base"}, {CTID: 101, Status: "running", Name: "clone"}}, list)

	// Stop and shutdown are prompt with Phoenix's init: far from the
	// timeout, however loaded the machine.
	start := time.Now()
	require.NoError(t, b.Shutdown(ctx, 101, 5*time.Minute))
	assert.Less(t, time.Since(start), time.Minute, "shutdown should not wait for the timeout")
	assert.ErrorContains(t, b.Shutdown(ctx, 101, time.Second), "not running")
	_, err = b.Exec(ctx, 101, []string{"true"}, engine.ExecOptions{})
	assert.ErrorContains(t, err, "container '101' not running!")
	assert.ErrorContains(t, b.Push(ctx, 101, "/x", nil, engine.PushOptions{}), "not running")
	assert.ErrorContains(t, b.Destroy(ctx, 100), "is running")
	require.NoError(t, b.Stop(ctx, 100))
	require.NoError(t, b.Destroy(ctx, 101))
	require.NoError(t, b.Destroy(ctx, 100))
	list, err = b.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
}

// lxcCgroup reads a cgroup value of a running container from the host.
func lxcCgroup(t *testing.T, b *Backend, ctid int, key string) string {
	t.Helper()
	out, err := exec.Command("lxc-cgroup", "-n", b.name(ctid), "-P", b.path, key).CombinedOutput()
	require.NoError(t, err, "lxc-cgroup %s: %s", key, out)
	return strings.TrimSpace(string(out))
}

func TestRealExecTimeoutEndsTheCommand(t *testing.T) {
	b := newRealBackend(t)
	ctx := context.Background()
	require.NoError(t, b.create(ctx, engine.CreateSpec{CTID: 200, Template: testRootfs(t)}, true))
	require.NoError(t, b.Start(ctx, 200))
	require.NoError(t, b.WaitReady(ctx, 200, 30*time.Second))

	start := time.Now()
	_, err := b.Exec(ctx, 200, []string{"sh", "-c", "sleep 600; touch /phoenix-marker"}, engine.ExecOptions{Timeout: 300 * time.Millisecond})
	require.ErrorContains(t, err, "timed out after 300ms")
	assert.Less(t, time.Since(start), time.Minute, "not the 600 s the command asked for")
	// The command inside (the sh) was ended with lxc-attach: no process
	// in the container has its command line (a killed one may take a
	// moment to go; the [e] keeps grep from finding itself).
	deadline := time.Now().Add(time.Minute)
	for {
		left := execOK(t, b, 200, "sh", "-c", `grep -l "phoenix-mark[e]r" /proc/[0-9]*/cmdline 2>/dev/null; true`)
		if left == "" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the command survived its timeout: %s", left)
		time.Sleep(100 * time.Millisecond)
	}

	// What the command started goes with it: a child in the background
	// that left the process group for a session of its own, as a daemon
	// does (setsid sleep 6001), and one it waits for (sleep 6002).
	_, err = b.Exec(ctx, 200, []string{"sh", "-c", "setsid sleep 6001 & sleep 6002"}, engine.ExecOptions{Timeout: 300 * time.Millisecond})
	require.ErrorContains(t, err, "timed out after 300ms")
	deadline = time.Now().Add(time.Minute)
	for {
		left := execOK(t, b, 200, "sh", "-c", `for f in $(grep -l "600[1]\|600[2]" /proc/[0-9]*/cmdline 2>/dev/null); do tr '\0' ' ' < $f; echo; done; true`)
		if left == "" {
			break
		}
		require.True(t, time.Now().Before(deadline), "a child of the command survived its timeout: %s", left)
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRealCreateFromTarball(t *testing.T) {
	b := newRealBackend(t)
	ctx := context.Background()
	tarball := t.TempDir() + "/rootfs.tar"
	out, err := exec.Command("tar", "-cf", tarball, "-C", testRootfs(t), ".").CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, b.Create(ctx, engine.CreateSpec{CTID: 300, Template: tarball, Options: []engine.Option{{Key: "hostname", Value: "fromtar"}}}))
	require.NoError(t, b.Start(ctx, 300))
	require.NoError(t, b.WaitReady(ctx, 300, 30*time.Second))
	assert.Equal(t, "fromtar\n", execOK(t, b, 300, "hostname"))

	err = b.Create(ctx, engine.CreateSpec{CTID: 301, Template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"})
	require.ErrorContains(t, err, "not a rootfs directory or tarball on this host")
	assert.False(t, b.exists(301), "nothing left behind")
}

func TestRealThrowawayFactory(t *testing.T) {
	requireLXC(t)
	rootfs := testRootfs(t)
	ctx := context.Background()

	// From a rootfs path.
	t.Setenv(EnvRootfsCache, rootfs)
	mk := ThrowawayFactory(Options{LXCPath: t.TempDir()}, "") // "": the cached rootfs
	be, cleanup, err := mk(ctx, 950)
	require.NoError(t, err)
	res, err := be.Exec(ctx, 950, []string{"hostname"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, "hooktest-950\n", res.Stdout)
	res, err = be.Exec(ctx, 950, []string{"touch", "/written-in-throwaway"}, engine.ExecOptions{})
	require.NoError(t, err)
	require.Equal(t, 0, res.Code, res.Stderr)
	_, err = os.Stat(rootfs + "/written-in-throwaway")
	assert.True(t, os.IsNotExist(err), "the cached rootfs is only the overlay's lower layer")
	assert.Contains(t, be.(*Backend).LXCPath(), os.TempDir())
	path := be.(*Backend).LXCPath()
	cleanup()
	_, err = os.Stat(path)
	assert.True(t, os.IsNotExist(err), "cleanup removes the throwaway lxcpath")

	// From a base container's snapshot.
	base := newRealBackend(t)
	require.NoError(t, base.Create(ctx, engine.CreateSpec{CTID: 900, Template: rootfs}))
	require.NoError(t, base.Snapshot(ctx, 900, "golden"))
	mk = ThrowawayFactory(Options{LXCPath: base.LXCPath()}, "900")
	be, cleanup, err = mk(ctx, 950)
	require.NoError(t, err)
	defer cleanup()
	res, err = be.Exec(ctx, 950, []string{"cat", "/etc/hostname"}, engine.ExecOptions{})
	require.NoError(t, err)
	assert.Equal(t, 0, res.Code)
	st, err := base.Status(ctx, 950)
	require.NoError(t, err)
	assert.False(t, st.Exists, "the throwaway is not in the base's lxcpath")
	_, _, err = ThrowawayFactory(Options{LXCPath: base.LXCPath()}, "999")(ctx, 950)
	assert.ErrorContains(t, err, "not a rootfs path nor a container")
}

func BenchmarkExecTrue(b *testing.B) {
	be := newRealBackend(b)
	ctx := context.Background()
	require.NoError(b, be.create(ctx, engine.CreateSpec{CTID: 100, Template: testRootfs(b)}, true))
	require.NoError(b, be.Start(ctx, 100))
	require.NoError(b, be.WaitReady(ctx, 100, 30*time.Second))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := be.Exec(ctx, 100, []string{"true"}, engine.ExecOptions{})
		if err != nil || res.Code != 0 {
			b.Fatalf("exec true: %v %v", res, err)
		}
	}
	b.StopTimer()
}

func TestRealReadsChangeNothing(t *testing.T) {
	requireLXC(t)
	path := t.TempDir() + "/not-yet"
	b, err := New(Options{LXCPath: path})
	require.NoError(t, err)
	ctx := context.Background()
	list, err := b.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
	st, err := b.Status(ctx, 100)
	require.NoError(t, err)
	assert.False(t, st.Exists)
	_, err = b.ListSnapshots(ctx, 100)
	assert.ErrorIs(t, err, engine.ErrNotExist)
	_, err = os.Stat(path)
	assert.True(t, os.IsNotExist(err), "reads (dry-run) never create the lxcpath")
	assert.Equal(t, "lxc", b.Name())
	ok, why := b.GPUSupported()
	assert.False(t, ok)
	assert.Equal(t, "no GPU on this backend", why)
}

// envFailMidway makes TestRealCleanupWhenATestFails, run again in a child
// process, the test that fails: "fail:<lxcpath>" or "panic:<lxcpath>".
const envFailMidway = "PHOENIX_LXC_TEST_FAIL_MIDWAY"

// TestRealCleanupWhenATestFails runs itself again in a child process
// that provisions a template, its snapshot and a running overlay clone of
// it, then fails (t.Fatal) or panics; afterwards nothing is left in its
// lxcpath: no container, running or not. A child killed before its
// cleanup leaves them running; the next run's sweep destroys them.
func TestRealCleanupWhenATestFails(t *testing.T) {
	if spec := os.Getenv(envFailMidway); spec != "" {
		failMidway(t, spec)
		return
	}
	requireLXC(t)
	testRootfs(t) // built here, not in the child
	for _, how := range []string{"fail", "panic", "killed"} {
		t.Run(how, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lxc")
			cmd := exec.Command(os.Args[0], "-test.run=^TestRealCleanupWhenATestFails$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), envFailMidway+"="+how+":"+path)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the child test fails on purpose:\n%s", out)
			require.Contains(t, string(out), "child: CT 100 and its clone CT 101 are running", "the child got that far:\n%s", out)
			require.NotContains(t, string(out), "cleanup", "the child's cleanup reported no error:\n%s", out)

			b, err := New(Options{LXCPath: path})
			require.NoError(t, err)
			if how == "killed" {
				// No cleanup ran: the next test run's sweep destroys it all.
				list, err := b.List(context.Background())
				require.NoError(t, err)
				require.Len(t, list, 2, "a killed test leaves its containers")
				owner := filepath.Join(path, ownerFile)
				child, err := os.ReadFile(owner)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(owner, []byte(strconv.Itoa(os.Getpid())), 0o644))
				sweepStale(t, owner)
				list, _ = b.List(context.Background())
				require.Len(t, list, 2, "a live owner's containers are left alone")
				require.NoError(t, os.WriteFile(owner, child, 0o644))
				sweepStale(t, owner)
				_, err = os.Stat(path)
				assert.True(t, os.IsNotExist(err), "the sweep removes the killed test's lxcpath")
				require.NoError(t, os.MkdirAll(path, 0o755))
			}
			list, err := b.List(context.Background())
			require.NoError(t, err)
			assert.Empty(t, list, "every container of the failed test is destroyed")
			ents, err := os.ReadDir(path)
			require.NoError(t, err)
			assert.Empty(t, ents, "nothing is left in the failed test's lxcpath")
		})
	}
}

// failMidway is the child of TestRealCleanupWhenATestFails.
func failMidway(t *testing.T, spec string) {
	how, path, _ := strings.Cut(spec, ":")
	b := newRealBackendAt(t, path)
	ctx := context.Background()
	require.NoError(t, b.create(ctx, engine.CreateSpec{CTID: 100, Template: testRootfs(t)}, true))
	require.NoError(t, b.Snapshot(ctx, 100, "snap"))
	require.NoError(t, b.Clone(ctx, engine.CloneSpec{Source: 100, CTID: 101, Snapshot: "snap"}))
	for _, id := range []int{100, 101} {
		require.NoError(t, b.Start(ctx, id))
		require.NoError(t, b.WaitReady(ctx, id, 30*time.Second))
	}
	t.Log("child: CT 100 and its clone CT 101 are running")
	switch how {
	case "panic":
		panic("child: panics on purpose")
	case "killed":
		os.Exit(3) // as a -timeout or a SIGKILL would: no cleanup runs
	}
	t.Fatal("child: fails on purpose")
}

// netNamespace is the network namespace of the running container ctid's
// init (the target of /proc/PID/ns/net, "net:[INODE]").
func netNamespace(tb testing.TB, b *Backend, ctid int) string {
	tb.Helper()
	out, err := b.run(context.Background(), nil, "lxc-info", "-n", b.name(ctid), "-P", b.path, "-p", "-H")
	require.NoError(tb, err)
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	require.NoError(tb, err, "lxc-info -p: %q", out)
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	require.NoError(tb, err)
	return ns
}

// requireNoNetwork proves that container ctid has no network by its
// network namespace, not by a sysfs listing (in a chroot whose /sys is the
// host's, /sys/class/net lists the host's interfaces): the init's
// namespace is its own, not the host's, and in it /proc/net/dev (which
// shows the reader's namespace) has only the loopback.
func requireNoNetwork(tb testing.TB, b *Backend, ctid int) {
	tb.Helper()
	host, err := os.Readlink("/proc/self/ns/net")
	require.NoError(tb, err)
	assert.NotEqual(tb, host, netNamespace(tb, b, ctid), "CT %d shares the host's network namespace", ctid)
	r, err := b.Exec(context.Background(), ctid, []string{"cat", "/proc/net/dev"}, engine.ExecOptions{})
	require.NoError(tb, err)
	require.Equal(tb, 0, r.Code, r.Stderr)
	var ifaces []string
	for _, l := range strings.Split(r.Stdout, "\n") {
		if name, _, ok := strings.Cut(l, ":"); ok {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	assert.Equal(tb, []string{"lo"}, ifaces, "CT %d has no network: loopback only\n%s", ctid, r.Stdout)
}

// TestRealIDMaps: an unprivileged container runs in a user namespace with
// Proxmox's default map, its init a host process of uid 100000, and sees
// its rootfs owned as it should (root's files root's, setuid bits kept);
// the id map the config asks for (gid 33 to the host's 33, completed
// around it) replaces the default set when the lxc-conf stage's edit is
// applied, and the restarted container runs with it. A snapshot clone of
// it is a full copy (see idmapped) that runs with its source's map.
func TestRealIDMaps(t *testing.T) {
	b := newRealBackend(t)
	ctx := context.Background()
	require.NoError(t, b.Create(ctx, engine.CreateSpec{CTID: 300, Template: testRootfs(t), Options: []engine.Option{
		{Key: "hostname", Value: "mapped"}, {Key: "unprivileged", Value: "1"}}}))
	require.NoError(t, b.Start(ctx, 300))
	require.NoError(t, b.WaitReady(ctx, 300, 30*time.Second))
	assert.Equal(t, "0 100000 65536\n", mapOf(t, b, 300, "uid_map"))
	assert.Equal(t, "0 100000 65536\n", mapOf(t, b, 300, "gid_map"))
	assert.Equal(t, "100000", hostUID(t, b, 300), "the container's root is host uid 100000")
	assert.Equal(t, "0:0 4755\n", execOK(t, b, 300, "stat", "-c", "%u:%g %a", "/usr/bin/passwd"), "root's setuid binary, as root's")
	assert.Equal(t, "65534\n", execOK(t, b, 300, "su", "-s", "/bin/sh", "nobody", "-c", "id -u"), "su, root inside, becomes another mapped user")
	execOK(t, b, 300, "sh", "-c", "mkdir -p /srv/www && chgrp 33 /srv/www")
	cfg, err := b.Config(ctx, 300)
	require.NoError(t, err)
	assert.NotContains(t, cfg, "lxc.idmap", "the default map is no line of the pct config")

	maps, err := pve.CompleteIDMaps([]pve.IDMap{{Kind: "g", CT: 33, Host: 33, Size: 1}})
	require.NoError(t, err)
	var want []pve.RawLine
	for _, m := range maps {
		want = append(want, m.Line())
	}
	edit := pve.MergeRaw(cfg, want)
	require.NoError(t, b.EditRaw(ctx, 300, edit))
	require.NoError(t, b.Stop(ctx, 300))
	require.NoError(t, b.Start(ctx, 300))
	require.NoError(t, b.WaitReady(ctx, 300, 30*time.Second))
	assert.Equal(t, "0 100000 65536\n", mapOf(t, b, 300, "uid_map"))
	assert.Equal(t, "0 100000 33\n33 33 1\n34 100034 65502\n", mapOf(t, b, 300, "gid_map"), "the new set, no old line beside it")
	assert.Equal(t, "0:33\n", execOK(t, b, 300, "stat", "-c", "%u:%g", "/srv/www"), "a file's ids are the container's own through any map")
	assert.Equal(t, "ok\n", execOK(t, b, 300, "sh", "-c", "echo ok"), "the container's shell runs")
	cfg, err = b.Config(ctx, 300)
	require.NoError(t, err)
	assert.True(t, pve.MergeRaw(cfg, want).Empty(), "converged")
	conf, err := readConf(b.confPath(300))
	require.NoError(t, err)
	assert.Equal(t, []string{"u 0 100000 65536", "g 0 100000 33", "g 33 33 1", "g 34 100034 65502"}, conf.Get("lxc.idmap"))

	require.NoError(t, b.Snapshot(ctx, 300, "base"))
	require.NoError(t, b.Clone(ctx, engine.CloneSpec{Source: 300, CTID: 301, Snapshot: "base", Hostname: "copy"}))
	cfg, err = b.Config(ctx, 301)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(cfg["lxc.rootfs.path"], "dir:"), "an idmapped container's clone is a full copy: %s", cfg["lxc.rootfs.path"])
	require.NoError(t, b.Start(ctx, 301))
	require.NoError(t, b.WaitReady(ctx, 301, 30*time.Second))
	assert.Equal(t, "0 100000 33\n33 33 1\n34 100034 65502\n", mapOf(t, b, 301, "gid_map"))
	assert.Equal(t, "0:33\n", execOK(t, b, 301, "stat", "-c", "%u:%g", "/srv/www"))
}

// mapOf is /proc/self/<name> inside ctid, its blanks squeezed.
func mapOf(t *testing.T, b *Backend, ctid int, name string) string {
	t.Helper()
	out := execOK(t, b, ctid, "cat", "/proc/self/"+name)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n") + "\n"
}

// hostUID is the host uid of ctid's init (from its /proc status on the
// host).
func hostUID(t *testing.T, b *Backend, ctid int) string {
	t.Helper()
	out, err := b.run(context.Background(), nil, "lxc-info", "-n", b.name(ctid), "-P", b.path, "-p", "-H")
	require.NoError(t, err)
	data, err := os.ReadFile("/proc/" + strings.TrimSpace(out) + "/status")
	require.NoError(t, err)
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			return f[1]
		}
	}
	t.Fatalf("no Uid line in /proc/%s/status", strings.TrimSpace(out))
	return ""
}
