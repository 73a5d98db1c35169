package main

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

func runBuffers(args []string, vars map[string]string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"phoenix"}, args...), Env{
		Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return vars[k] },
	})
	return code, stdout.String(), stderr.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runBuffers([]string{"version"}, nil)
	assert.Equal(t, engine.ExitOK, code)
	assert.Equal(t, "phoenix "+version+"\n", out)
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"run", "--no-such-flag"}, "no-such-flag"},
		{[]string{"--no-such-flag", "run"}, "no-such-flag"},
		{[]string{"--backend", "qemu", "plan"}, `--backend "qemu": expected pct or lxc`},
		{[]string{"run", "--parallel", "many"}, "parallel"},
		{[]string{"run", "--parallel", "0"}, "--parallel 0: expected at least 1"},
		{[]string{"plan", "--parallel=-3"}, "--parallel -3: expected at least 1"},
		{[]string{"run", "--hook-timeout=-5s"}, "--hook-timeout -5s: expected a duration of 0 or more"},
		{[]string{"hook", "run", "--hook-timeout=-1m", "901"}, "--hook-timeout -1m0s: expected"},
		{[]string{"hook", "run", "--hook-timeout", "soon", "901"}, "hook-timeout"},
		{[]string{"hook", "run", "--nope", "901"}, "see 'phoenix hook run --help'"},
		{[]string{"--nope", "plan"}, "see 'phoenix --help'"},
		{[]string{"run", "900"}, "use --ctid N"},
		{[]string{"hook", "run", "nine"}, `CTID "nine" is not a number`},
	} {
		code, _, stderr := runBuffers(tc.args, nil)
		assert.Equal(t, engine.ExitUsage, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
	}
}

func TestHelpExits0(t *testing.T) {
	code, out, _ := runBuffers([]string{"help"}, nil)
	assert.Equal(t, engine.ExitOK, code)
	for _, c := range []string{"run", "plan", "validate", "hooks", "hook", "version"} {
		assert.Contains(t, out, "   "+c)
	}
}

// resolved runs a test command through the real flag set-up and returns
// what resolveGlobals made of args and vars.
func resolved(t *testing.T, args []string, vars map[string]string) globals {
	t.Helper()
	var g globals
	env := Env{Getenv: func(k string) string { return vars[k] }}
	app := &cli.App{
		Name:  "phoenix",
		Flags: globalFlags(),
		Commands: []*cli.Command{{
			Name:  "cmd",
			Flags: withGlobals(nil),
			Action: func(c *cli.Context) error {
				var err error
				g, err = resolveGlobals(c, env)
				return err
			},
		}},
	}
	require.NoError(t, app.Run(append([]string{"phoenix"}, args...)))
	return g
}

func TestGlobalsPrecedence(t *testing.T) {
	g := resolved(t, []string{"cmd"}, nil)
	assert.Equal(t, globals{
		HypervisorConfig: defaultHypervisorConfig, LXCConfig: defaultLXCConfig, HooksDir: defaultHooksDir,
		LogFile: defaultLogFile, Backend: "pct", LockFile: "/run/lock/phoenix_hypervisor.lock",
	}, g)

	env := map[string]string{
		"PHOENIX_HYPERVISOR_CONFIG": "/env/h.json", "PHOENIX_LXC_CONFIG": "/env/l.json",
		"PHOENIX_HOOKS_DIR": "/env/hooks", "PHOENIX_LOG_FILE": "/env/log", "PHOENIX_BACKEND": "lxc",
		"PHOENIX_LOCK_FILE": "/env/lock", "PHOENIX_LXC_PATH": "/env/lxc",
	}
	g = resolved(t, []string{"cmd"}, env)
	assert.Equal(t, globals{
		HypervisorConfig: "/env/h.json", HypervisorExplicit: true, LXCConfig: "/env/l.json", HooksDir: "/env/hooks",
		LogFile: "/env/log", Backend: "lxc", LockFile: "/env/lock", LXCPath: "/env/lxc",
	}, g)

	// Flags win over the environment, before or after the command; the
	// innermost wins when both are given.
	g = resolved(t, []string{"--lxc-config", "/flag/before.json", "cmd", "--hooks-dir", "/flag/after", "-v"}, env)
	assert.Equal(t, "/flag/before.json", g.LXCConfig)
	assert.Equal(t, "/flag/after", g.HooksDir)
	assert.Equal(t, "/env/log", g.LogFile)
	assert.True(t, g.Verbose)
	g = resolved(t, []string{"--backend", "lxc", "cmd", "--backend", "pct"}, nil)
	assert.Equal(t, "pct", g.Backend)
}

func TestHypervisorFileDefaultMayBeAbsent(t *testing.T) {
	g := globals{HypervisorConfig: t.TempDir() + "/missing.json"}
	file, warning, err := g.hypervisorFile()
	require.NoError(t, err)
	assert.Empty(t, file)
	assert.Contains(t, warning, "using defaults")

	g.HypervisorExplicit = true
	_, _, err = g.hypervisorFile()
	require.Error(t, err)
	assert.Equal(t, engine.ExitUsage, engine.ExitCode(err))
	assert.Contains(t, err.Error(), "--hypervisor-config")
}

func TestInterspersedFlagsAfterArguments(t *testing.T) {
	app, _ := newApp(Env{})
	for _, tc := range []struct{ in, want []string }{
		{[]string{"phoenix", "hook", "run", "950", "--force", "--hook-timeout", "5m"},
			[]string{"phoenix", "hook", "run", "--force", "--hook-timeout", "5m", "950"}},
		{[]string{"phoenix", "--lxc-config", "x.json", "hook", "run", "--dry-run", "950", "-v"},
			[]string{"phoenix", "--lxc-config", "x.json", "hook", "run", "--dry-run", "-v", "950"}},
		{[]string{"phoenix", "hook", "test", "a_test.lua", "--backend", "lxc", "b_test.lua"},
			[]string{"phoenix", "hook", "test", "--backend", "lxc", "a_test.lua", "b_test.lua"}},
		{[]string{"phoenix", "hook", "test", "--", "-odd_test.lua"},
			[]string{"phoenix", "hook", "test", "--", "-odd_test.lua"}},
		{[]string{"phoenix", "run", "--ctid", "910", "--ctid=950"},
			[]string{"phoenix", "run", "--ctid", "910", "--ctid=950"}},
		{[]string{"phoenix", "help", "run"}, []string{"phoenix", "help", "run"}},
	} {
		assert.Equal(t, tc.want, interspersed(app, tc.in), "%v", tc.in)
	}
}

func TestEventHandlerTurnsBackendNotesIntoEvents(t *testing.T) {
	var got []engine.Event
	sink := engine.SinkFunc(func(e engine.Event) { got = append(got, e) })
	var live engine.Sink
	logger := slog.New(eventHandler{sink: func() engine.Sink { return live }})

	logger.Info("dropped: no sink yet")
	live = sink
	logger.With("bridge", "vmbr0").Info("lxc backend: no bridge: no network", "ctid", 101)
	logger.Warn("cleanup", "err", "busy")
	logger.Debug("below INFO: dropped")

	require.Len(t, got, 2)
	assert.Equal(t, engine.Event{Time: got[0].Time, Kind: engine.EventLog, Level: "INFO", CTID: 101,
		Message: "lxc backend: no bridge: no network bridge=vmbr0"}, got[0])
	assert.Equal(t, "WARN", got[1].Level)
	assert.Equal(t, "cleanup err=busy", got[1].Message)
	assert.Zero(t, got[1].CTID)
}

// TestLXCPlanSaysWhatTheBackendWillNotDo: with --backend lxc the plan ends
// with the backend's notes, so a preview tells before a run does that a
// container gets no network when its bridge is not on this host.
func TestLXCPlanSaysWhatTheBackendWillNotDo(t *testing.T) {
	require.NotEmpty(t, lookPath("lxc-create"), "the lxc backend needs the lxc tools: apt-get install -y lxc (.ci/run installs them)")
	dir := t.TempDir()
	code, out, stderr := runBuffers([]string{"--backend", "lxc",
		"--hypervisor-config", "../../examples/lxc/phoenix_hypervisor_config.json",
		"--lxc-config", "../../examples/lxc/phoenix_lxc_configs.json", "--hooks-dir", "../../examples/lxc",
		"--log-file", dir + "/phoenix.log", "--lxc-path", dir + "/lxc", "plan"}, map[string]string{"PHOENIX_LXC_NETWORK": "auto"})
	require.Equal(t, engine.ExitOK, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	assert.Contains(t, out, "note: CT 101: no bridge vmbr0 on this host: no network")
	assert.NoDirExists(t, dir+"/lxc", "a plan creates nothing")
}

func lookPath(name string) string {
	p, _ := exec.LookPath(name)
	return p
}
