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
