package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

func requireCgroup2(t *testing.T) {
	t.Helper()
	requireRoot(t)
	if _, err := cgroup2Mount(); err != nil {
		t.Skip("needs cgroup v2:", err)
	}
}

// warnings are the messages of the WARN log events.
func (e *events) warnings() []string {
	var out []string
	for _, ev := range e.kind(engine.EventLog) {
		if ev.Level == "WARN" {
			out = append(out, ev.Message)
		}
	}
	return out
}

// waitRunning is the bash lines with which a test hook waits until
// processes run under the given names (pgrep -f ^name), at most about
// 10 s. A missing pgrep, or a wait that runs out, fails the hook at once
// with a message saying which, instead of looping until the test's
// deadline (a hook without a timeout would loop forever).
func waitRunning(names ...string) string { return waitRunningTries(1000, names...) }

// waitRunningTries is waitRunning giving up after tries looks, 10 ms apart.
func waitRunningTries(tries int, names ...string) string {
	conds := make([]string, len(names))
	for i, n := range names {
		conds[i] = "pgrep -f ^" + n + " >/dev/null"
	}
	return "command -v pgrep >/dev/null || { echo 'pgrep not found: install procps (it is in .ci/packages)' >&2; exit 97; }\n" +
		"tries=0\n" +
		"until " + strings.Join(conds, " && ") + "; do\n" +
		"  tries=$((tries + 1))\n" +
		fmt.Sprintf("  if [ $tries -ge %d ]; then echo 'gave up after %d looks: not running: %s' >&2; exit 98; fi\n", tries, tries, strings.Join(names, " ")) +
		"  sleep 0.01\n" +
		"done\n"
}

// The wait of the test hooks fails fast, saying why, when pgrep is
// missing, and gives up after its bound when the process never shows.
func TestWaitRunningFailsFast(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	require.NoError(t, err)
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	run := func(path, script string) (int, string) {
		cmd := exec.Command(bash, "-c", script)
		cmd.Env = []string{"PATH=" + path}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return code, strings.TrimSpace(stderr.String())
	}
	code, msg := run(t.TempDir(), waitRunning("phoenix-test-x"))
	assert.Equal(t, 97, code)
	assert.Equal(t, "pgrep not found: install procps (it is in .ci/packages)", msg)

	// A pgrep that never finds the process, then one that does.
	never, found := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(never, "pgrep"), []byte("#!"+bash+"\nexit 1\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(found, "pgrep"), []byte("#!"+bash+"\nexit 0\n"), 0o755))
	code, msg = run(never+":"+filepath.Dir(sleep), waitRunningTries(3, "phoenix-test-x", "phoenix-test-y"))
	assert.Equal(t, 98, code)
	assert.Equal(t, "gave up after 3 looks: not running: phoenix-test-x phoenix-test-y", msg)
	code, msg = run(found+":"+filepath.Dir(sleep), waitRunningTries(3, "phoenix-test-x"))
	assert.Equal(t, 0, code, msg)
}

// killMarked kills, in cleanup, the processes a test's hook named marker.
func killMarked(t *testing.T, marker string) {
	t.Cleanup(func() {
		for _, pid := range hostProcesses(marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// A real run's hook that exits 0 leaving `sleep 1000 &` behind, and a
// setsid daemon outside its process group, leaves nothing running: both
// are ended with a warning naming them, and its cgroup is removed.
func TestRealRunEndsWhatTheHookLeftRunning(t *testing.T) {
	t.Parallel()
	requireCgroup2(t)
	f := newShellFixture(t, 940)
	bg, daemon := probeMarker(t)+"-bg", probeMarker(t)+"-daemon"
	killMarked(t, bg)
	killMarked(t, daemon)
	// The hook waits until both run under their names (pgrep -f ^name).
	f.hook(t, "#!/bin/bash\n(exec -a "+bg+" sleep 1000) &\nsetsid bash -c 'exec -a "+daemon+" sleep 1000' </dev/null >/dev/null 2>&1 &\n"+
		waitRunning(bg, daemon)+"exit 0\n")
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	assert.Empty(t, hostProcesses(bg), "the background child still runs")
	assert.Empty(t, hostProcesses(daemon), "the setsid daemon still runs")
	w := f.events.warnings()
	require.Len(t, w, 1, "%q", w)
	assert.Contains(t, w[0], "the hook left 2 process(es) running: ended ")
	assert.Contains(t, w[0], "("+bg+" 1000)")
	assert.Contains(t, w[0], "("+daemon+" 1000)")
	assert.NoDirExists(t, filepath.Join(f.runner.o.CgroupRoot, "ct940"))
}

// A hook that leaves nothing behind gets no warning.
func TestRealRunCleanHookNoWarning(t *testing.T) {
	t.Parallel()
	requireCgroup2(t)
	f := newShellFixture(t, 940)
	f.hook(t, "#!/bin/bash\necho $(cat /proc/self/cgroup | grep ^0::)\n")
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	assert.Empty(t, f.events.warnings())
	out := f.events.output("INFO")
	require.Len(t, out, 1)
	assert.True(t, strings.HasSuffix(out[0], "/ct940"), "the hook ran in its own cgroup: %s", out[0])
}

// hook_keep_processes: true leaves what the hook started running.
func TestRealRunKeepProcesses(t *testing.T) {
	t.Parallel()
	requireCgroup2(t)
	f := newShellFixture(t, 940)
	f.ct.HookKeepProcesses = true
	bg := probeMarker(t)
	killMarked(t, bg)
	f.hook(t, "#!/bin/bash\n(exec -a "+bg+" sleep 1000) </dev/null >/dev/null 2>&1 &\n"+waitRunning(bg)+"exit 0\n")
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	assert.Len(t, hostProcesses(bg), 1, "the kept process runs on")
	assert.Empty(t, f.events.warnings())
}

// Without cgroup v2 the run warns and still ends the hook's process group.
func TestRealRunWithoutCgroups(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.runner.o.CgroupRoot = t.TempDir() // not a cgroup2 filesystem
	bg := probeMarker(t)
	killMarked(t, bg)
	f.hook(t, "#!/bin/bash\n(exec -a "+bg+" sleep 1000) &\n"+waitRunning(bg)+"exit 0\n")
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	w := f.events.warnings()
	require.Len(t, w, 1, "%q", w)
	assert.Contains(t, w[0], "cgroup v2 unavailable (")
	assert.Contains(t, w[0], "is not on a cgroup2 filesystem): what the hook leaves running is ended only within its process group")
	assert.Empty(t, hostProcesses(bg), "the process group was ended")
}

// envRealHook makes the test binary a phoenix that runs one real hook
// (realHookMain): the spec is JSON.
const envRealHook = "PHOENIX_TEST_REAL_HOOK"

type realHookSpec struct {
	Dir, CgroupRoot string
	CTID            int
}

func realHookMain() int {
	var s realHookSpec
	if err := json.Unmarshal([]byte(os.Getenv(envRealHook)), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r := NewRunner(Options{Dir: s.Dir, CgroupRoot: s.CgroupRoot})
	if err := r.Run(context.Background(), engine.HookRequest{Container: &engine.Container{CTID: s.CTID}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// phoenix killed with SIGKILL mid-hook: the hook dies with it
// (parent-death signal); the daemon it started lives on in the hook's
// cgroup until the next run's hook of that container, which ends it first
// and says so.
func TestKilledPhoenixNextRunEndsTheHooksLeftovers(t *testing.T) {
	t.Parallel()
	requireCgroup2(t)
	f := newShellFixture(t, 940)
	hookName, daemon := probeMarker(t)+"-hook", probeMarker(t)+"-daemon"
	killMarked(t, hookName)
	killMarked(t, daemon)
	ready := filepath.Join(t.TempDir(), "ready")
	// Ready once the daemon runs under its name (pgrep -f ^name).
	f.hook(t, "#!/bin/bash\nsetsid bash -c 'exec -a "+daemon+" sleep 1000' </dev/null >/dev/null 2>&1 &\n"+
		waitRunning(daemon)+"touch "+ready+"\nexec -a "+hookName+" sleep 1000\n")

	spec, _ := json.Marshal(realHookSpec{Dir: f.dir, CgroupRoot: f.runner.o.CgroupRoot, CTID: 940})
	exe, err := os.Executable()
	require.NoError(t, err)
	phoenix := exec.Command(exe)
	phoenix.Env = append(os.Environ(), envRealHook+"="+string(spec))
	require.NoError(t, phoenix.Start())
	t.Cleanup(func() { _ = phoenix.Process.Kill(); _, _ = phoenix.Process.Wait() })
	require.Eventually(t, func() bool {
		_, err := os.Stat(ready)
		return err == nil && len(hostProcesses(hookName)) == 1
	}, 30*time.Second, 20*time.Millisecond, "the hook did not start")
	require.NoError(t, phoenix.Process.Signal(syscall.SIGKILL))
	_, _ = phoenix.Process.Wait()

	assert.Eventually(t, func() bool { return len(hostProcesses(hookName)) == 0 }, 10*time.Second, 20*time.Millisecond,
		"the hook runs on after phoenix was killed")
	pids := hostProcesses(daemon)
	require.Len(t, pids, 1, "the daemon outside the hook's process group lives on (in its cgroup)")
	assert.Contains(t, cgroupPids(filepath.Join(f.runner.o.CgroupRoot, "ct940")), pids[0])

	f.hook(t, "#!/bin/bash\nexit 0\n")
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	assert.Empty(t, hostProcesses(daemon), "the next run ended the previous hook's daemon")
	w := f.events.warnings()
	require.Len(t, w, 1, "%q", w)
	assert.Equal(t, fmt.Sprintf("a previous run's hook of container 940 was still running (phoenix ended before it did): ended %d (%s 1000) first", pids[0], daemon), w[0])
}
