package luaapi

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// With a real backend (--backend lxc), t.backend says so, the fake's
// set-up options are refused, and dry_run records calls without running
// them in the container, as a plan does.
func TestHookTestRealBackendSemantics(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "phoenix_hypervisor_setup_101.lua")
	require.NoError(t, os.WriteFile(hook, []byte(`pct_exec({"mkdir", "-p", "/x"})
pct_push("data", "/x/f")`), 0o644))
	var real *memhost.Backend
	tf := TestFile{Path: filepath.Join(dir, "phoenix_hypervisor_setup_101_test.lua"), Hook: hook, Backend: "lxc",
		NewBackend: func(ctx context.Context, ctid int) (engine.Backend, func(), error) {
			real = memhost.New()
			real.Put(ctid, &memhost.Container{Running: true, Files: map[string][]byte{}})
			return real, nil, nil
		},
		Source: []byte(`
test("backend", function(t) t.eq(t.backend, "lxc") end)
test("dry run", function(t)
  local r = t.run{ dry_run = true }
  t.ok(r.ok, r.error)
  t.eq(#r.calls, 2)
end)
test("real run", function(t) t.ok(t.run{}.ok) end)
test("fake set-up refused", function(t) t.run{ files = { ["/x/y"] = "" } } end)
`)}
	cases, err := RunTestFile(context.Background(), tf)
	require.NoError(t, err)
	require.Len(t, cases, 4)
	for _, c := range cases[:3] {
		require.NoError(t, c.Err, c.Name)
	}
	require.ErrorContains(t, cases[3].Err, "status, files and dirs set up the fake container")
	// The real run (the last case that reached it) pushed; the dry run did not.
	require.Equal(t, []byte("data"), real.Get(101).Files["/x/f"])
	tf.Source = []byte(`test("dry run", function(t) t.ok(t.run{ dry_run = true }.ok) end)`)
	_, err = RunTestFile(context.Background(), tf)
	require.NoError(t, err)
	require.Empty(t, real.MutatingCalls(), "a dry run reaches no real container")
}
