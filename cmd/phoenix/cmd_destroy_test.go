package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/fakepct"
)

// TestDestroyAsksOnATerminalAndOnlyYesGoesOn drives destroy in-process with
// a terminal on stdin, against the fake pct on PATH.
func TestDestroyAsksOnATerminalAndOnlyYesGoesOn(t *testing.T) {
	dir := t.TempDir()
	bin, err := fakeBin(dir)
	require.NoError(t, err)
	state := filepath.Join(dir, "pct-state")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_PCT_STATE", state)
	require.NoError(t, fakepct.Save(state, 910, &fakepct.Container{Config: map[string]string{"hostname": "Portainer"}, Running: true}))
	ex := examplesDir(t)
	vars := map[string]string{
		"PHOENIX_HYPERVISOR_CONFIG": filepath.Join(ex, "phoenix_hypervisor_config.json"),
		"PHOENIX_LXC_CONFIG":        filepath.Join(ex, "phoenix_lxc_configs.json"),
		"PHOENIX_HOOKS_DIR":         ex,
		"PHOENIX_LOG_FILE":          filepath.Join(dir, "phoenix.log"),
		"PHOENIX_LOCK_FILE":         filepath.Join(dir, "phoenix.lock"),
		"PHOENIX_PVE_DIR":           filepath.Join(dir, "pve"),
	}
	destroy := func(answer string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"phoenix", "destroy", "--ctid", "910"}, Env{
			Stdout: &stdout, Stderr: &stderr,
			Getenv: func(k string) string { return vars[k] },
			Stdin:  strings.NewReader(answer), StdinTTY: true,
		})
		return code, stderr.String()
	}

	code, stderr := destroy("no\n")
	assert.Equal(t, engine.ExitUsage, code)
	assert.Contains(t, stderr, "910 Portainer (running)")
	assert.Contains(t, stderr, `destroy not confirmed (answer "no"): nothing was changed`)
	ct, err := fakepct.Load(state, 910)
	require.NoError(t, err)
	require.NotNil(t, ct, "not confirmed: 910 is still there")
	assert.True(t, ct.Running)

	code, stderr = destroy("yes\n")
	assert.Equal(t, engine.ExitOK, code, stderr)
	ct, err = fakepct.Load(state, 910)
	require.NoError(t, err)
	assert.Nil(t, ct, "confirmed: 910 is gone")
}
