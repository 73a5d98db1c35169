package hooks

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// exampleHookFixture loads examples/ and prepares a run of 940's legacy
// shell hook against a fake host where 940 runs.
func exampleHookFixture(t *testing.T) (*engine.Config, *Runner, *memhost.Backend, string) {
	t.Helper()
	dir, err := filepath.Abs("../examples")
	require.NoError(t, err)
	cfg, err := config.Load(filepath.Join(dir, "phoenix_hypervisor_config.json"), filepath.Join(dir, "phoenix_lxc_configs.json"))
	require.NoError(t, err)
	require.NotNil(t, cfg.Containers[940], "examples have the LegacyScripted container")
	info := NewRunner(Options{Dir: dir}).Describe(cfg.Containers[940])
	require.Equal(t, engine.HookShell, info.Kind)
	require.Equal(t, engine.HookReady, info.State, info.Problem)
	f := memhost.New()
	f.Put(940, &memhost.Container{Running: true, Config: map[string]string{"hostname": "LegacyScripted"}})
	return cfg, NewRunner(Options{Dir: dir}), f, filepath.Join(t.TempDir(), "phoenix_hypervisor.log")
}

func TestExampleLegacyHookRuns(t *testing.T) {
	t.Parallel()
	cfg, r, f, logFile := exampleHookFixture(t)
	ev := newEvents()
	req := engine.HookRequest{Container: cfg.Containers[940], Config: cfg, Backend: f, LogFile: logFile, Events: ev}
	require.NoError(t, r.Run(context.Background(), req))

	var ops []string
	for _, c := range f.Calls() {
		ops = append(ops, engine.FormatArgv(c.Argv))
	}
	assert.Equal(t, []string{
		"pct status 940",
		"pct exec 940 -- apt-get update -qq",
		"pct exec 940 -- env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl jq",
		"pct push 940 '<content>' /etc/motd --perms 0644",
		"pct exec 940 -- test -f /etc/motd",
	}, ops)
	assert.Equal(t, "LegacyScripted (940): provisioned by Phoenix (legacy shell hook)\n", string(f.Get(940).Files["/etc/motd"]))
	log, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Contains(t, string(log), "[INFO] phoenix_hypervisor_setup_940.sh: No GPU assigned: NVIDIA setup skipped (runfile https://us.download.nvidia.com/")
	assert.Contains(t, string(log), "Container 940 (LegacyScripted) setup complete")
}

// In dry-run, on the dry-run backend, the example hook's calls are
// recorded with the hook as their source and none reaches the host; its
// log writes are discarded.
func TestExampleLegacyHookDryRun(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	cfg, r, f, logFile := exampleHookFixture(t)
	ev := newEvents()
	b := engine.Observe(dryrun.New(f), ev)
	req := engine.HookRequest{Container: cfg.Containers[940], Config: cfg, Backend: b, DryRun: true, LogFile: logFile, Events: ev}
	require.NoError(t, r.Run(context.Background(), req))

	assert.Empty(t, f.MutatingCalls(), "dry-run reached the host")
	assert.NoFileExists(t, logFile)
	var acts []string
	for _, a := range ev.kind(engine.EventAction) {
		acts = append(acts, engine.FormatArgv(a.Argv))
		assert.Equal(t, "phoenix_hypervisor_setup_940.sh", a.Source)
		assert.Equal(t, "hook", a.Stage)
		assert.Equal(t, 940, a.CTID)
	}
	assert.Equal(t, []string{
		"pct exec 940 -- apt-get update -qq",
		"pct exec 940 -- env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl jq",
		"pct push 940 '<content>' /etc/motd --perms 0644",
		"pct exec 940 -- test -f /etc/motd",
	}, acts)
	assert.Contains(t, lastLine(ev.output("INFO")), "Container 940 (LegacyScripted) setup complete")
}
