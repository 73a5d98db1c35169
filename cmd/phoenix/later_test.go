package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// TestLaterPlanGolden: the dry-run plan of examples/later (the later-era
// container 960 and its template) on an empty host, every later stage
// with its exact argv or file content (refresh with -run LaterPlanGolden
// -update).
func TestLaterPlanGolden(t *testing.T) {
	ex := filepath.Join(examplesDir(t), "later")
	dir := t.TempDir()
	vars := map[string]string{
		"PHOENIX_LXC_CONFIG": filepath.Join(ex, "phoenix_lxc_configs.json"),
		"PHOENIX_HOOKS_DIR":  ex,
		"PHOENIX_LOG_FILE":   filepath.Join(dir, "phoenix.log"),
		"PHOENIX_LOCK_FILE":  filepath.Join(dir, "phoenix.lock"),
		"PHOENIX_PVE_DIR":    filepath.Join(dir, "pve"),
		"PHOENIX_HOST_ROOT":  filepath.Join(dir, "hostroot"),
		"PATH":               dir, // no pct: an empty host
	}
	var stdout, stderr bytes.Buffer
	env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
	t.Setenv("PATH", dir)
	code := run(context.Background(), []string{"phoenix", "plan"}, env)
	require.Equal(t, engine.ExitOK, code, "stderr: %s", stderr.String())

	got := durationRE.ReplaceAllString(stdout.String(), "T")
	golden := filepath.Join("testdata", "plan_later.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
	_, err = os.Stat(filepath.Join(dir, "hostroot"))
	assert.True(t, os.IsNotExist(err), "the plan made no host directory")
}
