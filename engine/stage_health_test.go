package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// hostScripts is fileHooks that also runs host scripts (a health check
// naming a script of the hooks dir): each run recorded, the first failN
// failing.
type hostScripts struct {
	fileHooks
	mu    sync.Mutex
	failN int
	runs  []hostScriptRun
}

type hostScriptRun struct {
	path  string
	args  []string
	stage string
	dry   bool
}

func (h *hostScripts) RunHostScript(ctx context.Context, req engine.HookRequest, path string, args []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.runs = append(h.runs, hostScriptRun{path: path, args: args, stage: req.Stage, dry: req.DryRun})
	if len(h.runs) <= h.failN {
		return fmt.Errorf("exited with code 1; last stderr lines: step-ca not ready (%d)", len(h.runs))
	}
	return nil
}

// sleeps records the waits between tries instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

// healthDir is a hooks dir holding the executable host script
// health_checks/check_step_ca.sh.
func healthDir(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "health_checks"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "health_checks", "check_step_ca.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755))
	return dir
}

func healthContainer(ctid int, command string) *engine.Container {
	ct := laterContainer()
	ct.CTID, ct.Hostname = ctid, fmt.Sprintf("ct%d", ctid)
	ct.Net.IP = fmt.Sprintf("10.0.0.%d/24", ctid-800)
	ct.Later = engine.Later{HealthCheck: &engine.HealthCheck{Command: command, Retries: 5, Interval: 10 * time.Second}}
	return ct
}

func healthRun(t *testing.T, cfg *engine.Config, dir string, hooks *hostScripts, dry bool) (*engine.Result, *sleeps) {
	host := newHost()
	s := &sleeps{}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, HooksDir: dir, Sleep: s.sleep, DryRun: dry})
	for _, c := range host.Calls() {
		for _, a := range c.Argv {
			assert.NotContains(t, a, "check_step_ca.sh", "a host script never runs in the container: %v", c.Argv)
		}
	}
	return res, s
}

// A health check naming a host script of the hooks dir runs it on the
// host through the hooks runner (the legacy hook contract), as the health
// stage, until it passes: here on the 3rd of 5 tries, interval apart.
func TestHealthCheckHostScriptPassesOnTheThirdTry(t *testing.T) {
	t.Parallel()
	dir := healthDir(t)
	cfg := oneConfig(healthContainer(960, dir+"/health_checks/check_step_ca.sh"))
	hooks := &hostScripts{fileHooks: fileHooks{stubHooks: stubHooks{infos: map[int]engine.HookInfo{}}, dir: dir}, failN: 2}
	res, s := healthRun(t, cfg, dir, hooks, false)
	c := container(t, res, 960)
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%+v", c)
	assert.Equal(t, "host script health_checks/check_step_ca.sh passed (try 3 of 5)", stageOf(c, engine.StageHealth).Detail)
	require.Len(t, hooks.runs, 3)
	for _, r := range hooks.runs {
		assert.Equal(t, hostScriptRun{path: filepath.Join(dir, "health_checks", "check_step_ca.sh"), stage: engine.StageHealth}, r)
	}
	assert.Equal(t, []time.Duration{10 * time.Second, 10 * time.Second}, s.d, "two waits of the interval, none before the first try")
}

// The original's path (/usr/local/phoenix_hypervisor/bin/..., as v09
// writes it) names the script of the same path in the hooks dir; the words
// after it follow the CTID in its argv.
func TestHealthCheckOriginalPathIsTheHooksDir(t *testing.T) {
	t.Parallel()
	dir := healthDir(t)
	cfg := oneConfig(healthContainer(960, engine.OriginalHooksDir+"/health_checks/check_step_ca.sh --quick"))
	hooks := &hostScripts{fileHooks: fileHooks{stubHooks: stubHooks{infos: map[int]engine.HookInfo{}}, dir: dir}}
	res, s := healthRun(t, cfg, dir, hooks, false)
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%+v", container(t, res, 960))
	require.Len(t, hooks.runs, 1)
	assert.Equal(t, filepath.Join(dir, "health_checks", "check_step_ca.sh"), hooks.runs[0].path)
	assert.Equal(t, []string{"${PHOENIX_CTID}", "--quick"}, hooks.runs[0].args)
	assert.Empty(t, s.d)
}

// Failing every try fails the container after the last one (exit 1),
// its dependents skipped.
func TestHealthCheckHostScriptFailingFailsTheContainer(t *testing.T) {
	t.Parallel()
	dir := healthDir(t)
	ct := healthContainer(960, dir+"/health_checks/check_step_ca.sh")
	dep := healthContainer(961, "true")
	dep.Later = engine.Later{}
	dep.Dependencies = []int{960}
	cfg := oneConfig(ct, dep)
	hooks := &hostScripts{fileHooks: fileHooks{stubHooks: stubHooks{infos: map[int]engine.HookInfo{}}, dir: dir}, failN: 99}
	res, s := healthRun(t, cfg, dir, hooks, false)
	assert.Equal(t, engine.ExitFailed, res.ExitCode())
	c := container(t, res, 960)
	assert.Equal(t, engine.StageFailed, c.State)
	assert.EqualError(t, c.Err, "health: health check host script health_checks/check_step_ca.sh failed 5 time(s), 10s apart; last: exited with code 1; last stderr lines: step-ca not ready (5)")
	assert.Equal(t, engine.StageFailed, stageOf(c, engine.StageHealth).State)
	assert.Len(t, hooks.runs, 5)
	assert.Len(t, s.d, 4)
	d := container(t, res, 961)
	assert.Equal(t, engine.StageSkipped, d.State)
	assert.Equal(t, "depends on 960", d.Reason)
}

// A plan runs the host script once, as a dry-run hook (isolated by the
// hooks runner), and never waits; a failing try is known only after the
// run, not a failure of the plan's container.
func TestHealthCheckHostScriptPlanTriesOnce(t *testing.T) {
	t.Parallel()
	dir := healthDir(t)
	cfg := oneConfig(healthContainer(960, dir+"/health_checks/check_step_ca.sh"))
	hooks := &hostScripts{fileHooks: fileHooks{stubHooks: stubHooks{infos: map[int]engine.HookInfo{}}, dir: dir}}
	res, s := healthRun(t, cfg, dir, hooks, true)
	c := container(t, res, 960)
	assert.Equal(t, "host script health_checks/check_step_ca.sh passed (try 1 of 5)", stageOf(c, engine.StageHealth).Detail)
	require.Len(t, hooks.runs, 1)
	assert.True(t, hooks.runs[0].dry)
	assert.Empty(t, s.d)

	hooks = &hostScripts{fileHooks: fileHooks{stubHooks: stubHooks{infos: map[int]engine.HookInfo{}}, dir: dir}, failN: 1}
	res, s = healthRun(t, cfg, dir, hooks, true)
	c = container(t, res, 960)
	assert.Equal(t, engine.StageDone, c.State)
	assert.Equal(t, "host script health_checks/check_step_ca.sh known only after the run (the plan's try: exited with code 1; last stderr lines: step-ca not ready (1))",
		stageOf(c, engine.StageHealth).Detail)
	assert.Len(t, hooks.runs, 1)
	assert.Empty(t, s.d)
}

// A plan whose isolation cannot run the host script lists it, skipped
// with the reason, as a shell hook's.
func TestHealthCheckHostScriptNotRunInPlanIsSkipped(t *testing.T) {
	t.Parallel()
	dir := healthDir(t)
	cfg := oneConfig(healthContainer(960, dir+"/health_checks/check_step_ca.sh"))
	hooks := &notRunScripts{hostScripts: hostScripts{fileHooks: fileHooks{stubHooks: stubHooks{infos: map[int]engine.HookInfo{}}, dir: dir}}}
	host := newHost()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, HooksDir: dir, DryRun: true})
	c := container(t, res, 960)
	h := stageOf(c, engine.StageHealth)
	assert.Equal(t, engine.StageSkipped, h.State)
	assert.Equal(t, "dry-run: no isolation here", h.Detail)
	assert.Equal(t, engine.StageDone, c.State)
}

type notRunScripts struct{ hostScripts }

func (h *notRunScripts) RunHostScript(context.Context, engine.HookRequest, string, []string) error {
	return notRun{}
}

// notRun is what the hooks runner returns for a dry-run shell script it
// cannot isolate.
type notRun struct{}

func (notRun) Error() string        { return "dry-run: no isolation here" }
func (notRun) Is(target error) bool { return target == engine.ErrHookNotRun }

// A host script that is not there, or not executable, fails the container
// before its first stage: nothing is done to it.
func TestHealthCheckHostScriptMissingFailsFirst(t *testing.T) {
	t.Parallel()
	for want, mod := range map[string]func(dir string){
		"the host script is not in the hooks dir": func(dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "health_checks", "check_step_ca.sh")))
		},
		"not executable: chmod +x": func(dir string) {
			require.NoError(t, os.Chmod(filepath.Join(dir, "health_checks", "check_step_ca.sh"), 0o644))
		},
	} {
		t.Run(want, func(t *testing.T) {
			dir := healthDir(t)
			mod(dir)
			cfg := oneConfig(healthContainer(960, dir+"/health_checks/check_step_ca.sh"))
			hooks := &hostScripts{fileHooks: fileHooks{stubHooks: stubHooks{infos: map[int]engine.HookInfo{}}, dir: dir}}
			host := newHost()
			res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks, HooksDir: dir})
			c := container(t, res, 960)
			assert.Equal(t, engine.StageFailed, c.State)
			assert.ErrorContains(t, c.Err, "health check "+filepath.Join(dir, "health_checks", "check_step_ca.sh")+": "+want)
			assert.Empty(t, host.MutatingCalls())
			assert.Empty(t, hooks.runs)
		})
	}
}

// A command that names no script of the hooks dir runs in the container,
// retried with the injected sleeper too.
func TestHealthCheckInContainerWaitsThroughTheSleeper(t *testing.T) {
	t.Parallel()
	cfg := oneConfig(healthContainer(960, "/usr/bin/curl -fs localhost:8000"))
	host := newHost()
	tries := 0
	host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		if len(argv) == 3 && argv[2] == "/usr/bin/curl -fs localhost:8000" {
			if tries++; tries < 4 {
				return engine.ExecResult{Code: 7}, true
			}
		}
		return engine.ExecResult{}, false
	}
	s := &sleeps{}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: luaHooks(cfg), HooksDir: t.TempDir(), Sleep: s.sleep})
	c := container(t, res, 960)
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%+v", c)
	assert.Equal(t, "passed (try 4 of 5)", stageOf(c, engine.StageHealth).Detail)
	assert.Len(t, s.d, 3)
}
