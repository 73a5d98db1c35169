package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/lock"
	"github.com/phoenix-hypervisor/phoenix/internal/cgrouptest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fakeHost puts the fake pct first on PATH with an empty state directory
// and returns that directory. The process environment is changed (the
// hooks and the pct backend read it), so callers do not run in parallel.
func fakeHost(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin, err := fakeBin(dir)
	require.NoError(t, err)
	state := filepath.Join(dir, "pct-state")
	require.NoError(t, newFakeState(state))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_PCT_STATE", state)
	t.Setenv("PHOENIX_PVE_DIR", filepath.Join(state, "pve"))
	t.Setenv("PHOENIX_HOST_ROOT", filepath.Join(dir, "hostroot"))
	t.Setenv("PHOENIX_HOOK_CGROUP", cgrouptest.Dir(t))
	return state
}

// exampleEnv is the environment of a phoenix run on examples/ that keeps
// its log and lock in a temp dir.
func exampleEnv(t *testing.T, stdout, stderr io.Writer) Env {
	ex := examplesDir(t)
	dir := t.TempDir()
	vars := map[string]string{
		"PHOENIX_HYPERVISOR_CONFIG": filepath.Join(ex, "phoenix_hypervisor_config.json"),
		"PHOENIX_LXC_CONFIG":        filepath.Join(ex, "phoenix_lxc_configs.json"),
		"PHOENIX_HOOKS_DIR":         ex,
		"PHOENIX_LOG_FILE":          filepath.Join(dir, "phoenix.log"),
		"PHOENIX_LOCK_FILE":         filepath.Join(dir, "phoenix.lock"),
	}
	return Env{Stdout: stdout, Stderr: stderr, Getenv: func(k string) string { return vars[k] }}
}

var durationRE = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|us|ms|s|m)\b`)

// TestPlanGolden: the dry-run plan of examples/ on an empty host, as a
// golden file (refresh with go test -tags integrate ./cmd/phoenix -run PlanGolden -update).
func TestPlanGolden(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the golden plan includes the legacy 940 hook's actions, previewed only inside the dry-run isolation (mount and network namespaces)")
	}
	state := fakeHost(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"phoenix", "plan"}, exampleEnv(t, &stdout, &stderr))
	require.Equal(t, engine.ExitOK, code, "stderr: %s", stderr.String())

	got := durationRE.ReplaceAllString(stdout.String(), "T")
	golden := filepath.Join("testdata", "plan.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)

	calls, err := readCalls(filepath.Join(state, "calls.log"))
	require.NoError(t, err)
	for _, c := range calls {
		assert.False(t, isMutating(c), "mutating call in dry-run: %v", c)
	}
}

// TestLockHeldExits3 holds the run lock and starts a run: exit 3 naming
// the holder, and no pct call at all.
func TestLockHeldExits3(t *testing.T) {
	state := fakeHost(t)
	var stdout, stderr bytes.Buffer
	env := exampleEnv(t, &stdout, &stderr)
	holder := lock.Holder{PID: 4242, Command: "phoenix run --ctid 950", Started: time.Date(2026, 11, 25, 21, 0, 0, 0, time.Local)}
	l, err := lock.Acquire(env.Getenv("PHOENIX_LOCK_FILE"), holder)
	require.NoError(t, err)
	defer l.Release()

	code := run(context.Background(), []string{"phoenix", "run"}, env)
	assert.Equal(t, engine.ExitEnvironment, code)
	assert.Contains(t, stderr.String(), "pid 4242 (phoenix run --ctid 950), started 2026-11-25 21:00:00")
	calls, err := readCalls(filepath.Join(state, "calls.log"))
	require.NoError(t, err)
	assert.Empty(t, calls)
}

func TestDefaultHypervisorConfigMayBeAbsent(t *testing.T) {
	fakeHost(t)
	var stdout, stderr bytes.Buffer
	env := exampleEnv(t, &stdout, &stderr)
	get := env.Getenv
	env.Getenv = func(k string) string {
		if k == "PHOENIX_HYPERVISOR_CONFIG" {
			return ""
		}
		return get(k)
	}
	code := run(context.Background(), []string{"phoenix", "--hypervisor-config", defaultHypervisorConfig, "validate"}, env)
	assert.Equal(t, engine.ExitUsage, code, "given explicitly, even at the default path, it must exist")

	stdout.Reset()
	stderr.Reset()
	if _, err := os.Stat(defaultHypervisorConfig); err == nil {
		t.Skipf("%s exists on this machine: the absent-default case cannot be shown here", defaultHypervisorConfig)
	}
	code = run(context.Background(), []string{"phoenix", "validate"}, env)
	assert.Equal(t, engine.ExitOK, code, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	assert.Contains(t, stdout.String(), "no hypervisor config at "+defaultHypervisorConfig)

	// A run says so on the console and in the run log.
	stdout.Reset()
	stderr.Reset()
	// (The 950 hook fails without the hypervisor config's token path.)
	_ = run(context.Background(), []string{"phoenix", "plan"}, env)
	assert.Contains(t, stderr.String(), "WARN no hypervisor config at")
	log, err := os.ReadFile(env.Getenv("PHOENIX_LOG_FILE"))
	require.NoError(t, err)
	assert.Regexp(t, `\[WARN\] phoenix: no hypervisor config at `+regexp.QuoteMeta(defaultHypervisorConfig), string(log))
}

// TestInterruptExits130 starts the phoenix binary, waits until a hook
// runs (it sleeps) and sends SIGINT (Ctrl-C) or SIGTERM: the run cancels,
// the summary prints, exit 130, and the hook's process is gone.
func TestInterruptExits130(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { testInterrupt(t, sig) })
	}
}

func testInterrupt(t *testing.T, sig syscall.Signal) {
	dir := t.TempDir()
	bin, err := fakeBin(dir)
	require.NoError(t, err)
	hooksDir := filepath.Join(dir, "hooks")
	require.NoError(t, os.MkdirAll(hooksDir, 0o755))
	pidFile := filepath.Join(dir, "hook.pid")
	require.NoError(t, os.WriteFile(filepath.Join(hooksDir, "phoenix_hypervisor_setup_900.sh"),
		[]byte("#!/bin/bash\necho $$ > "+pidFile+"\necho hook started\nsleep 60\n"), 0o755))
	lxcConfig := filepath.Join(dir, "phoenix_lxc_configs.json")
	require.NoError(t, os.WriteFile(lxcConfig, []byte(`{"lxc_configs": {
		"900": {"name": "slow", "memory_mb": 512, "cores": 1, "template": "local:vztmpl/debian-12.tar.zst",
			"storage_pool": "local-lvm", "storage_size_gb": 4, "template_snapshot_name": "base"},
		"901": {"name": "after", "memory_mb": 512, "cores": 1, "clone_from_ctid": 900}}}`), 0o644))

	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "--lxc-config", lxcConfig, "--hooks-dir", hooksDir,
		"--log-file", filepath.Join(dir, "phoenix.log"), "--lock-file", filepath.Join(dir, "phoenix.lock"), "run")
	cmd.Args[0] = "phoenix"
	cmd.Env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FAKE_PCT_STATE="+filepath.Join(dir, "state"), "PHOENIX_PVE_DIR="+filepath.Join(dir, "state", "pve"), "PHOENIX_HOST_ROOT="+filepath.Join(dir, "hostroot"))
	require.NoError(t, newFakeState(filepath.Join(dir, "state")))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	// A file, not a buffer: the test reads it while phoenix still writes.
	stderrFile, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	defer stderrFile.Close()
	cmd.Stderr = stderrFile
	stderr := func() string { b, _ := os.ReadFile(stderrFile.Name()); return string(b) }
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var out bytes.Buffer
	sc := bufio.NewScanner(stdout)
	started := false
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "hook started") {
			started = true
			break
		}
	}
	require.True(t, started, "the hook never started; stdout:\n%s\nstderr:\n%s", out.String(), stderr())
	require.NoError(t, cmd.Process.Signal(sig))

	done := make(chan error, 1)
	go func() {
		rest, _ := io.ReadAll(stdout)
		out.Write(rest)
		done <- cmd.Wait()
	}()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("phoenix did not end after %v", sig)
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stdout:\n%s\nstderr:\n%s", out.String(), stderr())
	assert.Equal(t, engine.ExitInterrupted, ee.ExitCode(), "stdout:\n%s\nstderr:\n%s", out.String(), stderr())
	assert.Contains(t, out.String(), "901", "the summary lists every container")
	assert.Regexp(t, `(?i)interrupted`, out.String())

	pid, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		_, err := os.Stat("/proc/" + strings.TrimSpace(string(pid)))
		return os.IsNotExist(err)
	}, 5*time.Second, 50*time.Millisecond, "the hook's process %s is still running", strings.TrimSpace(string(pid)))
}

// BenchmarkPlanExamples: `phoenix plan` of examples/ in-process, on an
// empty fake host: config load, the dry-run of seven containers with
// their Lua hooks and the isolated legacy hook, plan and summary.
func BenchmarkPlanExamples(b *testing.B) {
	dir := b.TempDir()
	bin, err := fakeBin(dir)
	if err != nil {
		b.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	if err := newFakeState(state); err != nil {
		b.Fatal(err)
	}
	b.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b.Setenv("FAKE_PCT_STATE", state)
	b.Setenv("PHOENIX_PVE_DIR", filepath.Join(state, "pve"))
	b.Setenv("PHOENIX_HOST_ROOT", filepath.Join(dir, "hostroot"))
	ex, err := filepath.Abs("../../examples")
	if err != nil {
		b.Fatal(err)
	}
	vars := map[string]string{
		"PHOENIX_HYPERVISOR_CONFIG": filepath.Join(ex, "phoenix_hypervisor_config.json"),
		"PHOENIX_LXC_CONFIG":        filepath.Join(ex, "phoenix_lxc_configs.json"),
		"PHOENIX_HOOKS_DIR":         ex,
		"PHOENIX_LOG_FILE":          filepath.Join(dir, "phoenix.log"),
	}
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return vars[k] }}
	for b.Loop() {
		if code := run(context.Background(), []string{"phoenix", "plan"}, env); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

// TestInterruptOfTheProcessGroupExits130: Ctrl-C in a terminal signals the
// whole foreground process group, so the pct child running at that moment
// dies of it too and fails its container. The run still ends with 130.
func TestInterruptOfTheProcessGroupExits130(t *testing.T) {
	dir := t.TempDir()
	bin, err := fakeBin(dir)
	require.NoError(t, err)
	lxcConfig := filepath.Join(dir, "phoenix_lxc_configs.json")
	require.NoError(t, os.WriteFile(lxcConfig, []byte(`{"lxc_configs": {
		"900": {"name": "slow", "memory_mb": 512, "cores": 1, "template": "local:vztmpl/debian-12.tar.zst",
			"storage_pool": "local-lvm", "storage_size_gb": 4}}}`), 0o644))
	require.NoError(t, newFakeState(filepath.Join(dir, "state")))
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "--lxc-config", lxcConfig, "--hooks-dir", dir,
		"--log-file", filepath.Join(dir, "phoenix.log"), "--lock-file", filepath.Join(dir, "phoenix.lock"), "run")
	cmd.Args[0] = "phoenix"
	cmd.Env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FAKE_PCT_STATE="+filepath.Join(dir, "state"), "PHOENIX_PVE_DIR="+filepath.Join(dir, "state", "pve"), "PHOENIX_HOST_ROOT="+filepath.Join(dir, "hostroot"),
		"FAKE_PCT_DELAY=5s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	// Wait until phoenix runs its first pct call (the fake sleeps in it).
	state := filepath.Join(dir, "state", "calls.log")
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(state)
		return len(b) > 0
	}, 10*time.Second, 20*time.Millisecond, "phoenix never called pct:\n%s", out.String())
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))

	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, out.String())
	assert.Equal(t, engine.ExitInterrupted, ee.ExitCode(), out.String())
}
