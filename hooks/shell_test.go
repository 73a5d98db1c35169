package hooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
	"github.com/phoenix-hypervisor/phoenix/engine/runlog"
	"github.com/phoenix-hypervisor/phoenix/internal/cgrouptest"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// shellFixture is a hooks dir, a config and a fake host with the container
// running.
type shellFixture struct {
	dir    string
	cfg    *engine.Config
	ct     *engine.Container
	fake   *memhost.Backend
	events *events
	runner *Runner
	log    string
}

func newShellFixture(t testing.TB, ctid int) *shellFixture {
	t.Helper()
	dir := t.TempDir()
	ct := &engine.Container{CTID: ctid, Hostname: "LegacyScripted", GPUAssignment: "0", PortainerRole: "agent"}
	cfg := &engine.Config{
		HypervisorFile:      filepath.Join(dir, "phoenix_hypervisor_config.json"),
		LXCFile:             filepath.Join(dir, "phoenix_lxc_configs.json"),
		NvidiaDriverVersion: "580.76.06",
		NvidiaRepoURL:       "https://example.invalid/repo/",
		NvidiaRunfileURL:    "https://example.invalid/NVIDIA.run",
		PortainerServerIP:   "10.0.0.99",
		PortainerAgentPort:  9001,
		Containers:          map[int]*engine.Container{ctid: ct},
	}
	f := memhost.New()
	f.Put(ctid, &memhost.Container{Running: true, Config: map[string]string{"hostname": ct.Hostname}})
	return &shellFixture{
		dir: dir, cfg: cfg, ct: ct, fake: f, events: newEvents(),
		runner: NewRunner(Options{Dir: dir, KillGrace: 300 * time.Millisecond, CgroupRoot: cgrouptest.Dir(t)}),
		log:    filepath.Join(dir, "phoenix_hypervisor.log"),
	}
}

func (f *shellFixture) req() engine.HookRequest {
	return engine.HookRequest{Container: f.ct, Config: f.cfg, Backend: f.fake, LogFile: f.log, Events: f.events}
}

func (f *shellFixture) hook(t *testing.T, script string) string {
	return writeHook(t, f.dir, f.ct.CTID, "sh", script, 0o755)
}

func TestShellContract(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.hook(t, `#!/bin/bash
echo "argc=$#"
for a in "$@"; do echo "arg=$a"; done
echo "pwd=$PWD"
echo "stdin=$(readlink /proc/self/fd/0)"
for v in HYPERVISOR_CONFIG_FILE LXC_CONFIG_FILE MAIN_LOG_FILE PHOENIX_CTID PHOENIX_DRY_RUN PHOENIX_DEBUG \
  GPU_ASSIGNMENT NVIDIA_DRIVER_VERSION NVIDIA_REPO_URL NVIDIA_RUNFILE_URL PORTAINER_ROLE PORTAINER_SERVER_IP \
  PORTAINER_AGENT_PORT HOME; do
  echo "$v=${!v}"
done
echo "to stderr" >&2
`)
	req := f.req()
	req.Verbose = true
	require.NoError(t, f.runner.Run(context.Background(), req))

	out := f.events.output("INFO")
	assert.Equal(t, []string{
		"argc=1", "arg=940", "pwd=" + f.dir, "stdin=/dev/null",
		"HYPERVISOR_CONFIG_FILE=" + f.cfg.HypervisorFile,
		"LXC_CONFIG_FILE=" + f.cfg.LXCFile,
		"MAIN_LOG_FILE=" + f.log,
		"PHOENIX_CTID=940", "PHOENIX_DRY_RUN=0", "PHOENIX_DEBUG=true",
		"GPU_ASSIGNMENT=0", "NVIDIA_DRIVER_VERSION=580.76.06",
		"NVIDIA_REPO_URL=https://example.invalid/repo/", "NVIDIA_RUNFILE_URL=https://example.invalid/NVIDIA.run",
		"PORTAINER_ROLE=agent", "PORTAINER_SERVER_IP=10.0.0.99", "PORTAINER_AGENT_PORT=9001",
		"HOME=" + os.Getenv("HOME"),
	}, out)
	assert.Equal(t, []string{"to stderr"}, f.events.output("WARN"))
	for _, ev := range f.events.kind(engine.EventOutput) {
		assert.Equal(t, 940, ev.CTID)
		assert.Equal(t, "hook", ev.Stage)
		assert.Equal(t, "phoenix_hypervisor_setup_940.sh", ev.Source)
	}
}

func TestShellHookArgs(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.ct.HookArgs = []string{"${PHOENIX_CTID}", "${GPU_ASSIGNMENT}", "${NVIDIA_DRIVER_VERSION}", "${NVIDIA_REPO_URL}", "${NVIDIA_RUNFILE_URL}", "x-${PORTAINER_ROLE}-y", "$HOME"}
	f.hook(t, "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n")
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	assert.Equal(t, []string{"940", "0", "580.76.06", "https://example.invalid/repo/", "https://example.invalid/NVIDIA.run", "x-agent-y", "$HOME"},
		f.events.output("INFO"))
}

func TestExpandArgs(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PHOENIX_CTID": "901", "GPU_ASSIGNMENT": "0,1"}
	got, err := ExpandArgs(nil, env)
	require.NoError(t, err)
	assert.Equal(t, []string{"901"}, got)
	got, err = ExpandArgs([]string{}, env)
	require.NoError(t, err)
	assert.Empty(t, got, "an explicit empty list means no arguments")
	_, err = ExpandArgs([]string{"${PHOENIX_CTID}", "${HOME}"}, env)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "hook_args[1]: unknown variable ${HOME}")
}

func TestShellExitCodeAndStderrTail(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.hook(t, "#!/bin/bash\nfor i in 1 2 3 4 5 6 7; do echo \"problem $i\" >&2; done\nexit 3\n")
	err := f.runner.Run(context.Background(), f.req())
	require.Error(t, err)
	assert.Equal(t, "exited with code 3; last stderr lines: problem 3 | problem 4 | problem 5 | problem 6 | problem 7", err.Error())
}

func TestShellNotExecutableIsNotRun(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	marker := filepath.Join(f.dir, "ran")
	path := writeHook(t, f.dir, 940, "sh", "#!/bin/sh\ntouch "+marker+"\n", 0o644)
	err := f.runner.Run(context.Background(), f.req())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chmod +x "+path)
	assert.NoFileExists(t, marker)
}

func TestShellAmbiguousIsNotRun(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	marker := filepath.Join(f.dir, "ran")
	writeHook(t, f.dir, 940, "sh", "#!/bin/sh\ntouch "+marker+"\n", 0o755)
	writeHook(t, f.dir, 940, "lua", "", 0o644)
	err := f.runner.Run(context.Background(), f.req())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "phoenix_hypervisor_setup_940.lua")
	assert.NoFileExists(t, marker)
}

func TestNoHookSucceeds(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	assert.Empty(t, f.events.list())
}

// The first line reaches the events while the hook still runs.
func TestShellStreamsLinesAsTheyCome(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	gate := filepath.Join(f.dir, "gate")
	f.hook(t, `#!/bin/bash
echo first
for i in $(seq 200); do [ -e `+gate+` ] && break; sleep 0.05; done
echo second
`)
	done := make(chan error, 1)
	go func() { done <- f.runner.Run(context.Background(), f.req()) }()
	f.events.waitOutput(t, "first", 5*time.Second)
	select {
	case err := <-done:
		t.Fatalf("hook ended before the test released it: %v", err)
	default:
	}
	assert.NotContains(t, f.events.output(""), "second")
	require.NoError(t, writeFile(gate, ""))
	require.NoError(t, <-done)
	assert.Equal(t, []string{"first", "second"}, f.events.output(""))
}

// pidGone reports whether pid no longer runs (gone or a zombie).
func pidGone(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] == "Z"
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var data []byte
	require.Eventually(t, func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil && strings.HasSuffix(string(data), "\n")
	}, 5*time.Second, 10*time.Millisecond, "the hook did not write its child's pid")
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	require.NoError(t, err)
	return pid
}

func TestShellTimeoutEndsTheWholeProcessGroup(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	pidfile := filepath.Join(f.dir, "child.pid")
	// The child ignores SIGTERM: only the SIGKILL after the grace ends it.
	f.hook(t, `#!/bin/bash
bash -c 'trap "" TERM; sleep 300' &
echo $! > `+pidfile+`
sleep 300
`)
	req := f.req()
	// Long enough for the hook to start its child on a loaded machine.
	req.Timeout = 2 * time.Second
	start := time.Now()
	err := f.runner.Run(context.Background(), req)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrTimeout))
	assert.Equal(t, "hook timed out after 2s: its process group was ended; raise hook_timeout or --hook-timeout if it needs longer", err.Error())
	assert.Less(t, time.Since(start), 8*time.Second)
	pid := readPid(t, pidfile)
	assert.Eventually(t, func() bool { return pidGone(pid) }, 30*time.Second, 10*time.Millisecond, "background child %d still runs", pid)
}

func TestShellInterrupted(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	pidfile := filepath.Join(f.dir, "child.pid")
	// Ctrl-C ends the whole process group, a background child included.
	f.hook(t, "#!/bin/bash\nsleep 300 &\necho $! > "+pidfile+"\necho started\nsleep 300\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.runner.Run(ctx, f.req()) }()
	f.events.waitOutput(t, "started", 5*time.Second)
	cancel()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.True(t, errors.Is(err, context.Canceled))
		assert.Equal(t, "interrupted: context canceled", err.Error())
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	pid := readPid(t, pidfile)
	assert.True(t, pidGone(pid), "background child %d still runs", pid)
}

// A hook that exits leaving a background process behind: Run returns and
// nothing of the hook is left running.
func TestShellLeavesNothingRunning(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	pidfile := filepath.Join(f.dir, "child.pid")
	f.hook(t, "#!/bin/bash\nsleep 300 &\necho $! > "+pidfile+"\necho done\n")
	start := time.Now()
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	assert.Less(t, time.Since(start), 5*time.Second)
	pid := readPid(t, pidfile)
	assert.True(t, pidGone(pid), "background child %d still runs", pid)
}

func TestFmtDuration(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "10m", fmtDuration(10*time.Minute))
	assert.Equal(t, "1h", fmtDuration(time.Hour))
	assert.Equal(t, "1m30s", fmtDuration(90*time.Second))
	assert.Equal(t, "500ms", fmtDuration(500*time.Millisecond))
}

// A relative hooks dir works: the hook runs from it by its absolute path,
// not looked up on PATH.
func TestShellRelativeHooksDir(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.hook(t, "#!/bin/sh\necho \"$0 in $PWD\"\n")
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, f.dir)
	require.NoError(t, err)
	for _, dry := range []bool{false, true} {
		if dry && os.Geteuid() != 0 {
			continue // the isolation needs root; TestDryRunIsolation says so
		}
		ev := newEvents()
		req := f.req()
		req.DryRun, req.Events = dry, ev
		require.NoError(t, NewRunner(Options{Dir: rel}).Run(context.Background(), req), "dry-run=%v", dry)
		assert.Equal(t, []string{filepath.Join(f.dir, "phoenix_hypervisor_setup_940.sh") + " in " + f.dir}, ev.output(""), "dry-run=%v", dry)
	}
}

// A hook the kernel cannot execute fails with the reason, in both modes.
func TestShellCannotStart(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.hook(t, "#!/nonexistent/interpreter\n")
	for _, dry := range []bool{false, true} {
		if dry && os.Geteuid() != 0 {
			continue
		}
		req := f.req()
		req.DryRun = dry
		err := f.runner.Run(context.Background(), req)
		require.Error(t, err, "dry-run=%v", dry)
		assert.Regexp(t, `^cannot start it: .*phoenix_hypervisor_setup_940.sh: no such file or directory$`, err.Error(), "dry-run=%v", dry)
	}
}

// With no config file paths the hook gets the old system's layout, which
// its scripts read directly; relative paths become absolute, since the
// hook runs from the hooks dir.
func TestHookEnvPaths(t *testing.T) {
	t.Parallel()
	ct := &engine.Container{CTID: 940}
	env := HookEnv(engine.HookRequest{Container: ct})
	assert.Equal(t, "/usr/local/phoenix_hypervisor/etc/phoenix_hypervisor_config.json", env["HYPERVISOR_CONFIG_FILE"])
	assert.Equal(t, "/usr/local/phoenix_hypervisor/etc/phoenix_lxc_configs.json", env["LXC_CONFIG_FILE"])
	assert.Equal(t, os.DevNull, env["MAIN_LOG_FILE"], "no run log")
	assert.Equal(t, "none", env["GPU_ASSIGNMENT"])
	assert.Equal(t, "none", env["PORTAINER_ROLE"])
	assert.Equal(t, "0", env["PHOENIX_DRY_RUN"])
	assert.Equal(t, "false", env["PHOENIX_DEBUG"])

	wd, err := os.Getwd()
	require.NoError(t, err)
	cfg := &engine.Config{HypervisorFile: "etc/hv.json", LXCFile: "etc/lxc.json"}
	env = HookEnv(engine.HookRequest{Container: ct, Config: cfg, LogFile: "logs/run.log", DryRun: true})
	assert.Equal(t, filepath.Join(wd, "etc/hv.json"), env["HYPERVISOR_CONFIG_FILE"])
	assert.Equal(t, filepath.Join(wd, "etc/lxc.json"), env["LXC_CONFIG_FILE"])
	assert.Equal(t, filepath.Join(wd, "logs/run.log"), env["MAIN_LOG_FILE"])
	assert.Equal(t, "1", env["PHOENIX_DRY_RUN"])
}

// A hook that tees into a run log given by a relative path writes the run
// log, not a file of that name below the hooks dir (its working dir).
func TestShellRelativeLogFile(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	// Deeper than the test's working dir, so that the relative path read
	// from the hooks dir names some other file.
	hooksDir := filepath.Join(f.dir, "a", "b", "c", "d")
	require.NoError(t, os.MkdirAll(hooksDir, 0o755))
	writeHook(t, hooksDir, 940, "sh", "#!/bin/bash\necho hello | tee -a \"$MAIN_LOG_FILE\"\n", 0o755)
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, f.log)
	require.NoError(t, err)
	req := f.req()
	req.LogFile = rel
	require.NoError(t, NewRunner(Options{Dir: hooksDir}).Run(context.Background(), req))
	data, err := os.ReadFile(f.log)
	require.NoError(t, err)
	assert.Equal(t, "hello\n", string(data))
}

// The names the config accepts in hook_args are exactly the variables a
// hook gets: a name validation lets through must expand at run time.
func TestEnvVarsMatchTheConfigsHookVars(t *testing.T) {
	t.Parallel()
	assert.ElementsMatch(t, config.HookVars, EnvVars)
	env := HookEnv(engine.HookRequest{Container: &engine.Container{CTID: 940}})
	for _, name := range config.HookVars {
		_, ok := env[name]
		assert.True(t, ok, "HookEnv sets %s", name)
	}
	assert.Len(t, env, len(EnvVars))
}

// A line the hook prints already in the run log's format, with its own
// file name as the source (the old scripts' log function), reaches the run
// log in that format, not wrapped in a second prefix, at the hook's level.
// Other lines are logged as they are.
func TestShellLogFormattedOutput(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.hook(t, `#!/bin/bash
echo "2026-01-02 03:04:05 [ERROR] $(basename "$0"): Container $1 is not running"
echo "2026-01-02 03:04:06 [INFO] phoenix_hypervisor_lxc_common.sh: another script's line"
echo "plain line"
echo "2026-01-02 03:04:07 [WARN] $(basename "$0"): on stderr" >&2
`)
	logFile := filepath.Join(t.TempDir(), "run.log")
	file, err := runlog.NewFile(logFile)
	require.NoError(t, err)
	req := f.req()
	req.Events = runlog.Multi(file, f.events)
	require.NoError(t, f.runner.Run(context.Background(), req))
	require.NoError(t, file.Close())

	evs := f.events.kind(engine.EventOutput)
	require.Len(t, evs, 4)
	byMsg := map[string]engine.Event{}
	for _, e := range evs {
		byMsg[e.Message] = e
	}
	e, ok := byMsg["Container 940 is not running"]
	require.True(t, ok, "%v", evs)
	assert.Equal(t, "ERROR", e.Level)
	assert.Equal(t, "phoenix_hypervisor_setup_940.sh", e.Source)
	assert.Equal(t, "2026-01-02 03:04:05", e.Time.Format(runlog.TimeFormat))
	assert.Equal(t, "WARN", byMsg["on stderr"].Level)
	assert.Equal(t, "INFO", byMsg["2026-01-02 03:04:06 [INFO] phoenix_hypervisor_lxc_common.sh: another script's line"].Level)

	data, err := os.ReadFile(logFile)
	require.NoError(t, err)
	log := string(data)
	assert.Contains(t, log, "2026-01-02 03:04:05 [ERROR] phoenix_hypervisor_setup_940.sh: Container 940 is not running\n")
	assert.Contains(t, log, "2026-01-02 03:04:07 [WARN] phoenix_hypervisor_setup_940.sh: on stderr\n")
	assert.Contains(t, log, "[INFO] phoenix_hypervisor_setup_940.sh: 2026-01-02 03:04:06 [INFO] phoenix_hypervisor_lxc_common.sh: another script's line\n")
	assert.Contains(t, log, "[INFO] phoenix_hypervisor_setup_940.sh: plain line\n")
	assert.Equal(t, 1, strings.Count(log, "phoenix_hypervisor_setup_940.sh: Container 940"), "no prefix inside a prefix:\n%s", log)
}

func TestReadLines(t *testing.T) {
	t.Parallel()
	read := func(in string, max int) []string {
		var out []string
		readLines(strings.NewReader(in), max, func(l string) { out = append(out, l) })
		return out
	}
	assert.Equal(t, []string{"a", "b"}, read("a\nb", 10), "a last line without newline")
	assert.Equal(t, []string{"a", ""}, read("a\r\n\n", 10))
	assert.Nil(t, read("", 10))
	assert.Equal(t, []string{"abcd … [line cut at 4 bytes, 4 more dropped]", "x"}, read("abcdefgh\nx\n", 4))
	assert.Equal(t, []string{"abcd … [line cut at 4 bytes, 1 more dropped]"}, read("abcde", 4))
	long := strings.Repeat("y", 200<<10) // past bufio's 64 KiB buffer
	assert.Equal(t, []string{strings.Repeat("y", 100<<10) + " … [line cut at 102400 bytes, 102400 more dropped]", "z"},
		read(long+"\nz\n", 100<<10))
}

// A line over 1 MiB is cut and marked; the hook reads on and succeeds
// (it used to die of SIGPIPE when the reader gave up).
func TestShellLongLineIsCutNotFatal(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	f.hook(t, "#!/bin/bash\nset -o pipefail\nhead -c 3145728 /dev/zero | tr '\\0' a; echo\necho after\n")
	require.NoError(t, f.runner.Run(context.Background(), f.req()))
	out := f.events.output("INFO")
	require.Len(t, out, 2)
	assert.Equal(t, strings.Repeat("a", maxLineBytes)+" … [line cut at 1048576 bytes, 2097152 more dropped]", out[0])
	assert.Equal(t, "after", out[1])
}

// A host script of the hooks dir (a health check's) runs with the legacy
// hook contract: the hooks dir as working dir, the hook's environment, the
// args it is given (${NAME} expanded), its pct calls through the shim and
// its lines labelled with the stage it runs as.
func TestRunHostScriptAsAHealthCheck(t *testing.T) {
	t.Parallel()
	f := newShellFixture(t, 940)
	require.NoError(t, os.MkdirAll(filepath.Join(f.dir, "health_checks"), 0o755))
	script := filepath.Join(f.dir, "health_checks", "check_step_ca.sh")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
echo "argv=$*"
echo "pwd=$PWD"
echo "ctid=$PHOENIX_CTID dry=$PHOENIX_DRY_RUN"
pct exec "$1" -- true
echo "not ready" >&2
exit 3
`), 0o755))
	req := f.req()
	req.Stage = engine.StageHealth
	err := f.runner.RunHostScript(context.Background(), req, script, []string{"${PHOENIX_CTID}", "--quick"})
	require.EqualError(t, err, "exited with code 3; last stderr lines: not ready")
	assert.Equal(t, []string{"argv=940 --quick", "pwd=" + f.dir, "ctid=940 dry=0"}, f.events.output("INFO"))
	for _, ev := range f.events.list() {
		assert.Equal(t, engine.StageHealth, ev.Stage, "%+v", ev)
		assert.Equal(t, 940, ev.CTID)
	}
	calls := f.fake.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, []string{"exec", "940", "--", "true"}, calls[0].Argv)
	assert.Equal(t, engine.Origin{CTID: 940, Stage: engine.StageHealth, Source: "check_step_ca.sh"}, calls[0].Origin)
}
