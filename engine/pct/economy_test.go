package pct

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
)

// exampleConfig is examples/: the v06 reference stack.
func exampleConfig(t testing.TB) *engine.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "..", "examples", "phoenix_hypervisor_config.json"),
		filepath.Join("..", "..", "examples", "phoenix_lxc_configs.json"))
	require.NoError(t, err)
	return cfg
}

// runOn provisions cfg (without hooks: the built-in stages' economy) on
// the fake pct host h.
func runOn(t testing.TB, cfg *engine.Config, b engine.Backend) *engine.Result {
	t.Helper()
	res, err := engine.Run(context.Background(), engine.RunOptions{Config: cfg, Backend: b, Parallel: 8,
		StartTimeout: time.Minute, ProcDevices: func() ([]byte, error) { return []byte("195 nvidia\n508 nvidia-uvm\n"), nil }})
	require.NoError(t, err)
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%+v", res.Containers)
	return res
}

// perContainer counts pct calls by the container they name ("list": 0).
func perContainer(calls [][]string) map[int]int {
	out := map[int]int{}
	for _, c := range calls {
		id := 0
		if len(c) > 1 {
			id, _ = strconv.Atoi(c[1])
		}
		if c[0] == "clone" {
			id, _ = strconv.Atoi(c[2])
		}
		out[id]++
	}
	return out
}

func formatCounts(m map[int]int) string {
	var ids []int
	for id := range m {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var parts []string
	for _, id := range ids {
		name := strconv.Itoa(id)
		if id == 0 {
			name = "list"
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, m[id]))
	}
	return strings.Join(parts, " ")
}

// The pct call economy is a contract (pct costs hundreds of milliseconds a
// call on a Proxmox node): a converged re-run makes one `pct list` and, per
// container, one batched probe (its config and snapshots are read from
// /etc/pve/lxc/<CTID>.conf); a fresh run reads nothing twice: no status,
// config or snapshot list through pct at all.
func TestPctCallsPerContainer(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig(t)
	h := newHost(t)
	runOn(t, cfg, h.Backend)
	fresh := h.calls(t)
	reads := map[string]int{}
	for _, c := range fresh {
		switch c[0] {
		case "list", "status", "config", "listsnapshot":
			reads[c[0]]++
		}
	}
	assert.Equal(t, map[string]int{"list": 1}, reads, "a fresh run reads statuses once (pct list), configs from the file")

	require.NoError(t, os.Remove(filepath.Join(h.state, "calls.log")))
	runOn(t, cfg, h.Backend)
	converged := h.calls(t)
	counts := perContainer(converged)
	t.Logf("pct calls per container, fresh: %s", formatCounts(perContainer(fresh)))
	t.Logf("pct calls per container, converged: %s", formatCounts(counts))
	want := map[int]int{0: 1}
	for id := range cfg.Containers {
		want[id] = 1
	}
	assert.Equal(t, want, counts, "converged: one pct list, one batched probe per container")
	for _, c := range converged {
		if c[0] != "list" {
			assert.Equal(t, "exec", c[0], "%q", c)
		}
	}
	// Templates write the marker their snapshot is taken with (mkdir,
	// push); 910, 920 and 950 grow their disk past their source's (resize).
	assert.Equal(t, map[int]int{0: 1, 900: 9, 901: 16, 902: 12, 910: 6, 920: 15, 940: 4, 950: 5}, perContainer(fresh),
		"the fresh run's calls (deterministic)")
}

// markerHooks gives every container a ready Lua hook (never run here: the
// status reads its marker).
type markerHooks struct{}

func (markerHooks) Describe(*engine.Container) engine.HookInfo {
	return engine.HookInfo{Kind: engine.HookLua, State: engine.HookReady}
}

func (markerHooks) Run(context.Context, engine.HookRequest) error { return nil }

// Status has the run's economy: one `pct list` and, per running container,
// one batched probe of its markers; its config and snapshots come from the
// conf file, else from pct config and pct listsnapshot.
func TestStatusPctCallsPerContainer(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig(t)
	h := newHost(t)
	runOn(t, cfg, h.Backend)
	status := func(b engine.Backend) map[int]int {
		require.NoError(t, os.Remove(filepath.Join(h.state, "calls.log")))
		_, err := engine.Inspect(context.Background(), engine.StatusOptions{Config: cfg, Backend: b, Hooks: markerHooks{}})
		require.NoError(t, err)
		calls := h.calls(t)
		ops := map[string]int{}
		for _, c := range calls {
			ops[c[0]]++
		}
		n := len(cfg.Containers)
		want := map[string]int{"list": 1, "exec": n}
		if b != h.Backend {
			want["config"], want["listsnapshot"] = n, n
		}
		assert.Equal(t, want, ops)
		return perContainer(calls)
	}
	want := map[int]int{0: 1}
	for id := range cfg.Containers {
		want[id] = 1
	}
	got := status(h.Backend)
	t.Logf("status, pct calls per container, conf file read: %s", formatCounts(got))
	assert.Equal(t, want, got)

	noConf, err := New(Options{Path: fakePct, PVEDir: filepath.Join(h.state, "elsewhere"), Env: []string{"FAKE_PCT_STATE=" + h.state}})
	require.NoError(t, err)
	for id := range cfg.Containers {
		want[id] = 3
	}
	got = status(noConf)
	t.Logf("status, pct calls per container, no conf file: %s", formatCounts(got))
	assert.Equal(t, want, got)
}
