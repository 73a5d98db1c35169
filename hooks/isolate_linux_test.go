package hooks

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the dry-run isolation uses a private mount and network namespace")
	}
}

// A dry-run hook that appends to a host file and connects to a loopback
// TCP server leaves the file unchanged and makes no connection; it still
// runs (its output arrives) and reaches the backend through the shim.
func TestDryRunIsolation(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	f := newShellFixture(t, 940)
	hostFile := filepath.Join(t.TempDir(), "host.txt")
	require.NoError(t, writeFile(hostFile, "original\n"))
	newFile := filepath.Join(t.TempDir(), "created.txt")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	f.hook(t, `#!/bin/bash
echo "appended by the hook" >> `+hostFile+` && echo "append: ok"
echo new > `+newFile+` && echo "create: ok"
echo "log line" | tee -a "$MAIN_LOG_FILE" >/dev/null
if (exec 3<>/dev/tcp/127.0.0.1/`+port+`) 2>/dev/null; then echo "connect: ok"; else echo "connect: failed"; fi
echo "dry-run=$PHOENIX_DRY_RUN"
pct status "$1"
qm list
`)
	req := f.req()
	req.DryRun = true
	require.NoError(t, f.runner.Run(context.Background(), req))

	assert.Equal(t, []string{"append: ok", "create: ok", "connect: failed", "dry-run=1", "status: running"}, f.events.output("INFO"),
		"the hook ran, its writes seemed to work, the connection did not")
	data, err := os.ReadFile(hostFile)
	require.NoError(t, err)
	assert.Equal(t, "original\n", string(data), "the host file is unchanged")
	assert.NoFileExists(t, newFile)
	assert.NoFileExists(t, f.log)
	select {
	case <-accepted:
		t.Fatal("the loopback listener saw a connection")
	case <-time.After(100 * time.Millisecond):
	}
	acts := f.events.kind(engine.EventAction)
	require.Len(t, acts, 1)
	assert.Equal(t, []string{"qm", "list"}, acts[0].Argv)
	assert.Equal(t, "phoenix_hypervisor_setup_940.sh", acts[0].Source)
	assert.Equal(t, 940, acts[0].CTID)
	assert.Equal(t, "hook", acts[0].Stage)
}

// The old-style hook runs in dry-run too, against the fake's answers.
func TestDryRunLegacyHook(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	f := legacyFixture(t)
	req := f.req()
	req.DryRun = true
	require.NoError(t, f.runner.Run(context.Background(), req))
	assert.Contains(t, f.events.output("INFO"), "hostname is LegacyScripted")
	// The hook's own log line, its prefix taken apart (see TestShellLogFormattedOutput).
	assert.Equal(t, "Container 940 (LegacyScripted) set up, dry-run=1", lastLine(f.events.output("INFO")))
	assert.NoFileExists(t, f.log, "tee -a of the log file was discarded")
}

func lastLine(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

// Where the isolation cannot be set up the hook is listed, not run, and
// the run says why.
func TestDryRunWithoutIsolationListsTheHook(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	marker := filepath.Join(t.TempDir(), "ran")
	path := f.hook(t, "#!/bin/bash\ntouch "+marker+"\n")
	// A helper binary that cannot start stands for a host without the
	// isolation (as non-root, the namespaces are refused the same way).
	f.runner = NewRunner(Options{Dir: f.dir, ShimExe: filepath.Join(f.dir, "no-such-phoenix")})
	req := f.req()
	req.DryRun = true
	err := f.runner.Run(context.Background(), req)
	require.Error(t, err)
	assert.ErrorIs(t, err, engine.ErrHookNotRun, "the engine skips the stage, not fails it")
	assert.Contains(t, err.Error(), "dry-run: hook "+path+" listed, not run: start the isolation helper: ")
	assert.NoFileExists(t, marker)
}

func TestDryRunTimeout(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	f := newShellFixture(t, 940)
	marker := probeMarker(t)
	f.hook(t, "#!/bin/bash\n(exec -a "+marker+" sleep 300) &\necho started\nsleep 300\n")
	req := f.req()
	req.DryRun = true
	req.Timeout = 2 * time.Second // long enough to start the child on a loaded machine
	err := f.runner.Run(context.Background(), req)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrTimeout)
	assert.Equal(t, []string{"started"}, f.events.output("INFO"))
	// The pid the hook sees is its namespace's: look for the child from
	// the host, by its marker.
	assert.Eventually(t, func() bool { return len(hostProcesses(marker)) == 0 }, 2*time.Second, 10*time.Millisecond,
		"the hook's child still runs: %v", hostProcesses(marker))
}

// probeMarker is a name no other process has: a hook gives it to a
// process (exec -a) so that the test finds it from the host.
func probeMarker(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	return fmt.Sprintf("phoenix-probe-%d-%s", os.Getpid(), name)
}

// hostProcesses returns the pids of the host's processes whose argv[0] is
// name (zombies excluded: they run nothing).
func hostProcesses(name string) []int {
	des, _ := os.ReadDir("/proc")
	var out []int
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", de.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(data), "\x00")
		if argv0 == name && !pidGone(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func TestUnescapeMount(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "/mnt/my disk", unescapeMount(`/mnt/my\040disk`))
	assert.Equal(t, "/plain", unescapeMount("/plain"))
	assert.Equal(t, `/odd\`, unescapeMount(`/odd\`))
}

// A dry-run hook that calls the host's pct by its full path still reaches
// the shim.
func TestDryRunShadowsTheRealPct(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	f := newShellFixture(t, 940)
	sbin := t.TempDir()
	realPct := filepath.Join(sbin, "pct")
	require.NoError(t, os.WriteFile(realPct, []byte("#!/bin/sh\necho REAL PCT\n"), 0o755))
	f.runner.shadowDirs = []string{sbin}
	f.hook(t, "#!/bin/bash\n"+realPct+" status \"$1\"\n")
	req := f.req()
	req.DryRun = true
	require.NoError(t, f.runner.Run(context.Background(), req))
	assert.Equal(t, []string{"status: running"}, f.events.output(""))
}

// The isolated hook sees no disk device and cannot touch kernel knobs.
func TestDryRunDevAndProcAreSafe(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	f := newShellFixture(t, 940)
	f.hook(t, `#!/bin/bash
ls /dev | sort | tr '\n' ' '; echo
echo x > /dev/null && echo "null: ok"
if echo 1 > /proc/sys/vm/drop_caches 2>/dev/null; then echo "sysctl: written"; else echo "sysctl: refused"; fi
if echo h > /proc/sysrq-trigger 2>/dev/null; then echo "sysrq: written"; else echo "sysrq: refused"; fi
`)
	req := f.req()
	req.DryRun = true
	require.NoError(t, f.runner.Run(context.Background(), req))
	assert.Equal(t, []string{
		"core fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ",
		"null: ok", "sysctl: refused", "sysrq: refused",
	}, f.events.output("INFO"))
}

func TestIsolationHost(t *testing.T) {
	t.Parallel()
	yes, no := func() bool { return true }, func() bool { return false }
	require.NoError(t, isolationHost(0, yes))
	err := isolationHost(1000, yes)
	require.ErrorIs(t, err, errNotIsolated)
	assert.Contains(t, err.Error(), "not running as root")
	err = isolationHost(0, no)
	require.ErrorIs(t, err, errNotIsolated)
	assert.Contains(t, err.Error(), "no overlayfs")
}

// As a user other than root (or without overlayfs), a dry-run shell hook
// is listed, not run, and the run says why.
func TestDryRunNotRootListsTheHook(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	marker := filepath.Join(t.TempDir(), "ran")
	path := f.hook(t, "#!/bin/bash\ntouch "+marker+"\n")
	f.runner.hostCheck = func(_ int, overlay func() bool) error { return isolationHost(1000, overlay) }
	req := f.req()
	req.DryRun = true
	err := f.runner.Run(context.Background(), req)
	require.ErrorIs(t, err, engine.ErrHookNotRun)
	assert.Equal(t, "dry-run: hook "+path+" listed, not run: not running as root (a private mount and network namespace need root): run phoenix as root to preview shell hooks", err.Error())
	assert.NoFileExists(t, marker)
}

// The hook runs with exactly hookCaps, in the bounding set too, with
// no_new_privs and the seccomp filter, in namespaces of its own.
func TestDryRunCapabilitiesAndNamespaces(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	f := newShellFixture(t, 940)
	f.hook(t, `#!/bin/bash
grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
for ns in pid ipc uts cgroup net mnt; do echo "$ns $(readlink /proc/self/ns/$ns)"; done
`)
	req := f.req()
	req.DryRun = true
	require.NoError(t, f.runner.Run(context.Background(), req))
	var want uint64
	for _, c := range hookCaps {
		want |= 1 << capNumbers[c]
	}
	caps := fmt.Sprintf("%016x", want)
	out := f.events.output("INFO")
	require.Len(t, out, 11, "%q", out)
	assert.Equal(t, []string{"CapEff:\t" + caps, "CapBnd:\t" + caps, "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"}, out[:5])
	for _, line := range out[5:] {
		ns, link, _ := strings.Cut(line, " ")
		host, err := os.Readlink("/proc/self/ns/" + ns)
		require.NoError(t, err)
		assert.NotEqual(t, host, link, "the hook shares phoenix's %s namespace", ns)
	}
}

// Without bubblewrap the hook is listed, not run, and the plan says what
// to install.
func TestDryRunWithoutBwrapListsTheHook(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	marker := filepath.Join(t.TempDir(), "ran")
	path := f.hook(t, "#!/bin/bash\ntouch "+marker+"\n")
	f.runner.hostCheck = func(int, func() bool) error { return nil }
	f.runner.bwrap = filepath.Join(t.TempDir(), "bwrap")
	req := f.req()
	req.DryRun = true
	err := f.runner.Run(context.Background(), req)
	require.ErrorIs(t, err, engine.ErrHookNotRun)
	assert.Contains(t, err.Error(), "dry-run: hook "+path+" listed, not run: bubblewrap not found")
	assert.Contains(t, err.Error(), "install the package bubblewrap")
	assert.NoFileExists(t, marker)
}

// A bwrap that fails to set the sandbox up (here: one that exits at once)
// lists the hook with bwrap's words.
func TestDryRunBwrapFailureListsTheHook(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	f := newShellFixture(t, 940)
	marker := filepath.Join(t.TempDir(), "ran")
	path := f.hook(t, "#!/bin/bash\ntouch "+marker+"\n")
	f.runner.bwrap = filepath.Join(t.TempDir(), "bwrap")
	require.NoError(t, os.WriteFile(f.runner.bwrap, []byte("#!/bin/sh\necho 'bwrap: Creating new namespace failed: nope' >&2\nexit 1\n"), 0o755))
	req := f.req()
	req.DryRun = true
	err := f.runner.Run(context.Background(), req)
	require.ErrorIs(t, err, engine.ErrHookNotRun)
	assert.Contains(t, err.Error(), "dry-run: hook "+path+" listed, not run: bubblewrap could not set up the sandbox (exit status 1): ")
	assert.Contains(t, err.Error(), "bwrap: Creating new namespace failed: nope")
	assert.NoFileExists(t, marker)
}
