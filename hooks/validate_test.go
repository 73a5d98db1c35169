package hooks

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
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
	assert.Equal(t, "a Lua hook that compiles", byFile[badLua][0].Expected)
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
