package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// fileHooks is stubHooks with files of a hooks dir: feature hooks and
// application scripts.
type fileHooks struct {
	stubHooks
	dir     string
	luaRuns []string
}

func (h *fileHooks) DescribeFile(name string) engine.HookInfo {
	p := filepath.Join(h.dir, name)
	data, err := os.ReadFile(p)
	if err != nil {
		return engine.HookInfo{}
	}
	kind := engine.HookShell
	if strings.HasSuffix(name, ".lua") {
		kind = engine.HookLua
	}
	return engine.HookInfo{Kind: kind, Path: p, State: engine.HookReady, Digest: string(data)}
}

func (h *fileHooks) RunLuaFile(ctx context.Context, req engine.HookRequest, path string) error {
	h.mu.Lock()
	h.luaRuns = append(h.luaRuns, filepath.Base(path))
	h.mu.Unlock()
	_, err := req.Backend.Exec(ctx, req.Container.CTID, []string{"touch", "/" + filepath.Base(path)}, engine.ExecOptions{})
	return err
}

func writeFiles(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

func scriptContainer() *engine.Container {
	ct := laterContainer()
	ct.Later = engine.Later{
		ApplicationScript:  "phoenix_hypervisor_lxc_960.sh",
		HealthCheck:        &engine.HealthCheck{Command: "curl -fs localhost:8000", Retries: 3, Interval: time.Millisecond},
		LifecycleSnapshots: true,
	}
	ct.Named = []string{"base_setup", "web", "traefik"}
	return ct
}

// TestFeatureHooksAppScriptHealthAndSnapshots: the later order (the
// pre-configured snapshot, feature hooks in the order listed, the
// application script pushed with the configs and run in the container,
// the per-CTID hook, the health check until it passes, final-form); a
// feature without a hook is a note; the converged re-run makes no
// mutating call.
func TestFeatureHooksAppScriptHealthAndSnapshots(t *testing.T) {
	t.Parallel()
	ct := scriptContainer()
	cfg := oneConfig(ct)
	cfg.LXCFile = filepath.Join(writeFiles(t, map[string]string{"phoenix_lxc_configs.json": "{}"}), "phoenix_lxc_configs.json")
	dir := writeFiles(t, map[string]string{
		"phoenix_hypervisor_feature_install_web.lua":       "-- web",
		"phoenix_hypervisor_feature_install_base_setup.sh": "#!/bin/sh\napt-get install -y curl\n",
		"phoenix_hypervisor_lxc_960.sh":                    "#!/bin/bash\necho app\n",
	})
	hooks := &fileHooks{stubHooks: *luaHooks(cfg), dir: dir}
	host := newHost()
	tries := 0
	host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		if len(argv) == 3 && argv[2] == "curl -fs localhost:8000" {
			tries++
			if tries < 2 {
				return engine.ExecResult{Code: 7, Stderr: "connection refused"}, true
			}
		}
		return engine.ExecResult{}, false
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	c := container(t, res, 960)
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%+v", c)

	var order []string
	for _, s := range c.Stages {
		order = append(order, s.Stage)
	}
	assert.Equal(t, []string{"create", "configure", "start", "pre-configured", "features", "app", "hook", "health", "final-form"}, order)
	assert.Equal(t, []string{"feature traefik: no built-in stage and no feature hook"}, c.Notes)
	assert.Equal(t, []string{"snapshot 960 pre-configured"}, mutatingArgv(host, 960, engine.StagePreConfigured))
	assert.Equal(t, []string{"phoenix_hypervisor_feature_install_web.lua"}, hooks.luaRuns)
	features := mutatingArgv(host, 960, engine.StageFeatures)
	require.NotEmpty(t, features)
	assert.Equal(t, "exec 960 -- mkdir -p /tmp/phoenix_run", features[0], "base_setup first, as listed")
	// The script's environment (PHOENIX_CTID) is pushed as a file first.
	assert.Contains(t, features, "push 960 <content> <env-file> --perms 0600")
	assert.Contains(t, features, envExec+"bash /tmp/phoenix_run/phoenix_hypervisor_feature_install_base_setup.sh")
	assert.Contains(t, features, "exec 960 -- touch /phoenix_hypervisor_feature_install_web.lua")
	assert.Contains(t, features, "push 960 <content> /tmp/phoenix_run/phoenix_lxc_configs.json --perms 0600")
	app := mutatingArgv(host, 960, engine.StageApp)
	assert.NotContains(t, app, "push 960 <content> /tmp/phoenix_run/phoenix_lxc_configs.json --perms 0600",
		"the config file base_setup's run copied there is unchanged: no change")
	assert.Contains(t, app, "push 960 <content> /tmp/phoenix_run/phoenix_hypervisor_lxc_960.sh --perms 0755")
	assert.Contains(t, app, envExec+"bash /tmp/phoenix_run/phoenix_hypervisor_lxc_960.sh")
	assert.Equal(t, "passed (try 2 of 3)", stageOf(c, engine.StageHealth).Detail)
	assert.Equal(t, []string{"snapshot 960 final-form"}, mutatingArgv(host, 960, engine.StageFinalForm))

	host.ResetCalls()
	second := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	require.Equal(t, engine.ExitOK, second.ExitCode())
	var mutating []string
	for _, call := range host.MutatingCalls() {
		if call.Origin.Stage != engine.StageHealth { // the check itself runs every time
			mutating = append(mutating, strings.Join(call.Argv, " "))
		}
	}
	assert.Empty(t, mutating, "a converged re-run changes nothing")
	assert.Len(t, hooks.luaRuns, 1)
}

func TestMissingApplicationScriptFailsTheContainerFirst(t *testing.T) {
	t.Parallel()
	ct := scriptContainer()
	cfg := oneConfig(ct)
	hooks := &fileHooks{stubHooks: *luaHooks(cfg), dir: t.TempDir()}
	host := newHost()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: hooks})
	c := container(t, res, 960)
	assert.Equal(t, engine.StageFailed, c.State)
	assert.ErrorContains(t, c.Err, "application_script phoenix_hypervisor_lxc_960.sh: not found in the hooks dir")
	assert.Empty(t, host.MutatingCalls(), "nothing was done to it")
}

// With Strict a feature nothing applies stops the run before any change,
// as validate and plan do: the container it depends on is not built
// first.
func TestStrictStopsAtAFeatureWithoutHookBeforeAnyChange(t *testing.T) {
	t.Parallel()
	ct := scriptContainer()
	ct.Later = engine.Later{}
	first := laterContainer()
	first.CTID, first.Later, first.Named = 950, engine.Later{}, nil
	first.Net = &engine.NetConfig{Name: "eth0", Bridge: "vmbr0", IP: "10.0.0.150/24", GW: "10.0.0.1"}
	ct.Dependencies = []int{950}
	cfg := oneConfig(first, ct)
	host := newHost()
	_, err := engine.Run(context.Background(), engine.RunOptions{Config: cfg, Backend: host, Hooks: luaHooks(cfg), Strict: true})
	var hc *engine.HookCheckError
	require.ErrorAs(t, err, &hc)
	assert.ErrorContains(t, err, "feature base_setup: no built-in stage and no feature hook (--strict): add phoenix_hypervisor_feature_install_base_setup.lua or .sh to the hooks dir")
	assert.ErrorContains(t, err, "feature traefik: no built-in stage and no feature hook (--strict)")
	assert.Empty(t, host.MutatingCalls(), "nothing was changed")

	res := run(t, engine.RunOptions{Config: cfg, Backend: newHost(), Hooks: luaHooks(cfg)})
	assert.Equal(t, engine.StageDone, container(t, res, 960).State, "without Strict: a note, not an error")
	assert.Contains(t, container(t, res, 960).Notes, engine.NoFeatureHook("base_setup", false))
}

func TestHealthCheckFailureFailsTheContainer(t *testing.T) {
	t.Parallel()
	ct := scriptContainer()
	ct.Later = engine.Later{HealthCheck: &engine.HealthCheck{Command: "false", Retries: 2}}
	ct.Named = nil
	cfg := oneConfig(ct)
	host := newHost()
	host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		if len(argv) == 3 && argv[2] == "false" {
			return engine.ExecResult{Code: 1, Stderr: "not yet"}, true
		}
		return engine.ExecResult{}, false
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, Hooks: luaHooks(cfg)})
	c := container(t, res, 960)
	assert.Equal(t, engine.StageFailed, c.State)
	assert.ErrorContains(t, c.Err, `health check "false" failed 2 time(s)`)
	assert.Len(t, mutatingArgv(host, 960, engine.StageHealth), 2)
}

// envExec is the start of a command run in 960 with an environment, as
// the run sends it: through the env file's wrapper (pve.EnvFileScript).
const envExec = `exec 960 -- sh -c trap 'rm -f "$0"' EXIT; . "$0" && rm -f "$0" && trap - EXIT && exec "$@" <env-file> `
