package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// TestReadmeShowsTheExamplesGraph keeps the README's Mermaid block equal to
// what `phoenix graph` prints for examples/.
func TestReadmeShowsTheExamplesGraph(t *testing.T) {
	ex := examplesDir(t)
	code, out, stderr := runBuffers([]string{"graph"}, map[string]string{
		"PHOENIX_HYPERVISOR_CONFIG": filepath.Join(ex, "phoenix_hypervisor_config.json"),
		"PHOENIX_LXC_CONFIG":        filepath.Join(ex, "phoenix_lxc_configs.json"),
		"PHOENIX_HOOKS_DIR":         ex,
	})
	require.Equal(t, engine.ExitOK, code, stderr)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	const begin, end = "<!-- graph: examples -->\n```mermaid\n", "```\n<!-- end graph -->"
	_, rest, ok := strings.Cut(string(readme), begin)
	require.True(t, ok, "README.md has no %q block", begin)
	block, _, ok := strings.Cut(rest, end)
	require.True(t, ok, "README.md: the graph block does not end with %q", end)
	assert.Equal(t, out, block, "README.md's graph is not `phoenix graph` of examples/: paste its output between the markers")
}
