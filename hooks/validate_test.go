package hooks

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := &engine.Config{LXCFile: "/etc/lxc.json", Containers: map[int]*engine.Container{}}
	for _, id := range []int{900, 901, 902, 903, 904, 905, 906} {
		cfg.Containers[id] = &engine.Container{CTID: id}
	}
	writeHook(t, dir, 901, "lua", "log.info('ok')\n", 0o644)
	badLua := writeHook(t, dir, 902, "lua", "log.info('x'\nlocal = 3\n", 0o644)
	writeHook(t, dir, 903, "sh", "#!/bin/bash\nif true; then echo ok; fi\n", 0o755)
	badSh := writeHook(t, dir, 904, "sh", "#!/bin/bash\necho start\nif true; then\n  echo x\n", 0o755)
	noexec := writeHook(t, dir, 905, "sh", "#!/bin/bash\necho fine\n", 0o644)
	writeHook(t, dir, 906, "sh", "#!/bin/bash\n", 0o755)
	writeHook(t, dir, 906, "lua", "", 0o644)
	orphan := writeHook(t, dir, 999, "sh", "#!/bin/bash\n", 0o755)

	probs := Validate(dir, cfg)
	byFile := map[string][]engine.Problem{}
	for _, p := range probs {
		byFile[p.File] = append(byFile[p.File], p)
	}
	require.Len(t, probs, 5, "%+v", probs)

	require.Len(t, byFile[badLua], 1)
	assert.False(t, byFile[badLua][0].Warning)
	assert.Contains(t, byFile[badLua][0].Expected, "a Lua hook that compiles")
	assert.Regexp(t, `^line [0-9]+$`, byFile[badLua][0].Path)

	require.Len(t, byFile[badSh], 1)
	assert.False(t, byFile[badSh][0].Warning)
	assert.Equal(t, "line 5", byFile[badSh][0].Path)
	assert.Contains(t, byFile[badSh][0].Found, "syntax error")

	require.Len(t, byFile[noexec], 1)
	assert.True(t, byFile[noexec][0].Warning)
	assert.Contains(t, byFile[noexec][0].Expected, "chmod +x "+noexec)

	amb := byFile[HookPath(dir, 906, "sh")]
	require.Len(t, amb, 1)
	assert.False(t, amb[0].Warning)
	assert.Contains(t, amb[0].Found, filepath.Join(dir, "phoenix_hypervisor_setup_906.lua"))

	require.Len(t, byFile[orphan], 1)
	assert.True(t, byFile[orphan][0].Warning)
	assert.Contains(t, byFile[orphan][0].Expected, "a container 999 in /etc/lxc.json")
}

func TestValidateUndefinedNamesAndNearNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := &engine.Config{Containers: map[int]*engine.Container{}}
	for _, id := range []int{901, 902, 903, 910} {
		cfg.Containers[id] = &engine.Container{CTID: id}
	}
	lua := writeHook(t, dir, 901, "lua", "log.info('ok')\nlocal r = pct_exe({'ls'})\nos.execute('x')\n", 0o644)
	for _, name := range []string{"phoenix_hypervisor_setup_910.LUA", "phoenix_hypervisor_setup-902.lua", "phoenix_hypervisor_setup_903.bash"} {
		require.NoError(t, writeFile(filepath.Join(dir, name), "log.info('x')\n"))
	}
	var got []string
	for _, p := range Validate(dir, cfg) {
		got = append(got, config.Format(p))
	}
	assert.ElementsMatch(t, []string{
		lua + ": line 2: expected a Lua hook that compiles and uses only names it or the sandbox defines, found undefined: pct_exe (did you mean pct_exec?)",
		lua + ": line 3: expected a Lua hook that compiles and uses only names it or the sandbox defines, found os: not available in the sandbox: use pct_exec to run a command in the container",
		"warning: " + filepath.Join(dir, "phoenix_hypervisor_setup-902.lua") + ": not run: the hook of container 902 must be named phoenix_hypervisor_setup_902.lua (rename it)",
		"warning: " + filepath.Join(dir, "phoenix_hypervisor_setup_903.bash") + ": not run: the hook of container 903 must be named phoenix_hypervisor_setup_903.sh (rename it)",
		"warning: " + filepath.Join(dir, "phoenix_hypervisor_setup_910.LUA") + ": not run: the hook of container 910 must be named phoenix_hypervisor_setup_910.lua (rename it)",
	}, got)
}

// Run checks every hook it will run before the first change: a Lua hook
// that reads an undefined name, one that does not compile, a shell hook
// bash -n rejects stop it with every problem, and no call reaches the
// backend; a file named nearly as a hook is a warning.
func TestRunChecksHooksBeforeAnyChange(t *testing.T) {
	t.Parallel()
	for _, dry := range []bool{false, true} {
		dir := t.TempDir()
		cfg := &engine.Config{Containers: map[int]*engine.Container{}}
		for _, id := range []int{900, 901, 902, 903} {
			cfg.Containers[id] = &engine.Container{CTID: id, Hostname: "ct", MemoryMB: 512, Cores: 1, StoragePool: "local", StorageSizeGB: 8,
				Template: "local:vztmpl/ubuntu.tar.zst", Unprivileged: true}
		}
		undef := writeHook(t, dir, 901, "lua", "log.info('a')\n\n\npct_exe({'ls'})\n", 0o644)
		syntax := writeHook(t, dir, 902, "lua", "local = 1\n", 0o644)
		shell := writeHook(t, dir, 903, "sh", "#!/bin/bash\nif true; then\n", 0o755)
		require.NoError(t, writeFile(filepath.Join(dir, "phoenix_hypervisor_setup-900.lua"), "log.info('x')\n"))
		host := memhost.New()
		var b engine.Backend = host
		if dry {
			b = dryrun.New(host)
		}
		ev := &recorded{}
		_, err := engine.Run(context.Background(), engine.RunOptions{Config: cfg, Backend: b, DryRun: dry, Hooks: NewRunner(Options{Dir: dir}), Events: ev})
		var ce *engine.HookCheckError
		require.ErrorAs(t, err, &ce)
		msg := err.Error()
		assert.Contains(t, msg, "hook "+undef+":4: undefined: pct_exe (did you mean pct_exec?)\n")
		assert.Contains(t, msg, "hook "+syntax+":1: syntax error")
		assert.Contains(t, msg, "hook "+shell+":3: syntax error")
		assert.Contains(t, msg, "nothing was changed")
		assert.Empty(t, host.Calls(), "no call of any kind before the hooks are fixed")
		var warned bool
		for _, e := range ev.all() {
			warned = warned || e.Level == "WARN" && e.CTID == 900 && strings.Contains(e.Message, "must be named phoenix_hypervisor_setup_900.lua")
		}
		assert.True(t, warned, "the near name is a warning")
	}
}

type recorded struct {
	mu sync.Mutex
	ev []engine.Event
}

func (r *recorded) Emit(e engine.Event) { r.mu.Lock(); r.ev = append(r.ev, e); r.mu.Unlock() }
func (r *recorded) all() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Event(nil), r.ev...)
}

// The one near-name check covers the per-CTID hook, each feature's hook
// and the application script: a name that differs by case, '-' for '_',
// .bash, a missing extension or a left-out word warns with the expected
// name; the hooks dir's other files never do.
func TestNearNames(t *testing.T) {
	t.Parallel()
	ct := &engine.Container{CTID: 902, Named: []string{"docker", "web"}, Later: engine.Later{ApplicationScript: "phoenix_hypervisor_lxc_app.sh"}}
	hook := "the hook of container 902 must be named "
	feature := "the hook of feature web (container 902) must be named "
	app := "the application script of container 902 must be named "
	for name, want := range map[string]string{
		"phoenix_hypervisor_setup_902.LUA":            hook + "phoenix_hypervisor_setup_902.lua",
		"phoenix_hypervisor_setup-902.lua":            hook + "phoenix_hypervisor_setup_902.lua",
		"phoenix_hypervisor_setup_902.bash":           hook + "phoenix_hypervisor_setup_902.sh",
		"setup-902.lua":                               hook + "phoenix_hypervisor_setup_902.lua",
		"phoenix_hypervisor_setup902.lua":             hook + "phoenix_hypervisor_setup_902.lua",
		"phoenix_hypervisor_setup_902":                hook + "phoenix_hypervisor_setup_902.lua or phoenix_hypervisor_setup_902.sh",
		"902.lua":                                     hook + "phoenix_hypervisor_setup_902.lua",
		"phoenix_hypervisor_feature_install-web.lua":  feature + "phoenix_hypervisor_feature_install_web.lua",
		"phoenix_hypervisor_feature_install_web.LUA":  feature + "phoenix_hypervisor_feature_install_web.lua",
		"phoenix_hypervisor_feature_install_web.bash": feature + "phoenix_hypervisor_feature_install_web.sh",
		"feature_install_web.sh":                      feature + "phoenix_hypervisor_feature_install_web.sh",
		"phoenix_hypervisor_lxc-app.sh":               app + "phoenix_hypervisor_lxc_app.sh",
		"phoenix_hypervisor_LXC_APP":                  app + "phoenix_hypervisor_lxc_app.sh",
		// not near: the expected names themselves, hook tests, other
		// containers' and features' files, other extensions, utils.
		"phoenix_hypervisor_setup_902.lua":                "",
		"phoenix_hypervisor_setup_902.sh":                 "",
		"phoenix_hypervisor_feature_install_web.lua":      "",
		"phoenix_hypervisor_lxc_app.sh":                   "",
		"phoenix_hypervisor_setup_902_test.lua":           "",
		"phoenix_hypervisor_feature_install_web_test.lua": "",
		"phoenix_hypervisor_setup_903.lua":                "",
		"phoenix_hypervisor_setup_9020.lua":               "",
		"phoenix_hypervisor_feature_install_docker.sh":    "",
		"phoenix_hypervisor_feature_install_webui.lua":    "",
		"phoenix_hypervisor_common_utils.sh":              "",
		"902.txt":                                         "",
		"README.md":                                       "",
	} {
		probs := nearNames("/hooks", ct, []string{name})
		if want == "" {
			assert.Empty(t, probs, name)
			continue
		}
		require.Len(t, probs, 1, name)
		assert.True(t, probs[0].Warning)
		assert.Equal(t, "/hooks/"+name, probs[0].File)
		assert.Equal(t, "not run: "+want+" (rename it)", probs[0].Found, name)
	}
}

// Validate and CheckHook check every file a container's run runs, not
// only its per-CTID hook: its feature hooks (Lua and shell), its
// application script, its health check's host script (a shell script:
// bash -n; another interpreter's is not checked).
func TestCheckCoversEveryFileARunRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"phoenix_hypervisor_feature_install_web.lua": "pct_exe({'true'})\n",
		"phoenix_hypervisor_feature_install_db.sh":   "#!/bin/bash\nif then\n",
		"phoenix_hypervisor_lxc_app.lua":             "require('x')\n",
		"check":                                      "#!/bin/sh\nif then\n",
		"check.py":                                   "#!/usr/bin/python3\nif then\n",
	}
	for name, content := range files {
		require.NoError(t, writeFile(filepath.Join(dir, name), content))
	}
	ct := &engine.Container{CTID: 960, Named: []string{"web", "db"}, Later: engine.Later{
		ApplicationScript: "phoenix_hypervisor_lxc_app.lua",
		HealthCheck:       &engine.HealthCheck{Command: filepath.Join(dir, "check") + " --quick"},
	}}
	other := &engine.Container{CTID: 961, Later: engine.Later{HealthCheck: &engine.HealthCheck{Command: filepath.Join(dir, "check.py")}}}
	cfg := &engine.Config{Containers: map[int]*engine.Container{960: ct, 961: other}}
	var got []string
	for _, p := range Validate(dir, cfg) {
		got = append(got, filepath.Base(p.File)+":"+p.Path+": "+p.Found)
	}
	assert.ElementsMatch(t, []string{
		"phoenix_hypervisor_feature_install_web.lua:line 1: undefined: pct_exe (did you mean pct_exec?)",
		"phoenix_hypervisor_feature_install_db.sh:line 2: syntax error near unexpected token `then': `if then'",
		"phoenix_hypervisor_lxc_app.lua:line 1: require: not available in the sandbox: a hook is one file; use pct_exec to run a command in the container",
		"check:line 2: syntax error near unexpected token `then': `if then'",
	}, got)

	_, err := NewRunner(Options{Dir: dir}).CheckHook(ct)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "hook "+filepath.Join(dir, "phoenix_hypervisor_feature_install_web.lua")+":1: undefined: pct_exe (did you mean pct_exec?)")
	assert.Contains(t, err.Error(), "hook "+filepath.Join(dir, "check")+":2: syntax error")
}

// A feature hook that several containers run is one file: its mistake is
// said once, by validate and by the run's check.
func TestSharedFeatureHookProblemSaidOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, writeFile(filepath.Join(dir, "phoenix_hypervisor_feature_install_web.lua"), "pct_exe({'true'})\n"))
	cfg := &engine.Config{Containers: map[int]*engine.Container{}}
	for _, id := range []int{960, 961} {
		cfg.Containers[id] = &engine.Container{CTID: id, Hostname: "ct", MemoryMB: 512, Cores: 1, StoragePool: "local", StorageSizeGB: 8,
			Template: "local:vztmpl/ubuntu.tar.zst", Unprivileged: true, Named: []string{"web"}}
	}
	probs := Validate(dir, cfg)
	require.Len(t, probs, 1, "%+v", probs)
	assert.Contains(t, probs[0].Found, "undefined: pct_exe")

	_, err := engine.Run(context.Background(), engine.RunOptions{Config: cfg, Backend: memhost.New(), Hooks: NewRunner(Options{Dir: dir})})
	var ce *engine.HookCheckError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, strings.Count(err.Error(), "undefined: pct_exe"), err.Error())
}
