package pct

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/fakepct"
)

// realLatency is what one pct call costs on a Proxmox node (pct-facts.md).
const realLatency = 400 * time.Millisecond

// slowHost drives the fake pct state of h with every call taking
// realLatency.
func slowHost(b *testing.B, h host) *Backend {
	b.Helper()
	slow, err := New(Options{Path: fakePct, PVEDir: filepath.Join(h.state, "pve"), LockDir: filepath.Join(h.state, "locks"),
		Env: []string{"FAKE_PCT_STATE=" + h.state, "FAKE_PCT_DELAY=" + realLatency.String()}})
	require.NoError(b, err)
	return slow
}

// BenchmarkConvergedRerunRealLatency: `phoenix run` of the converged
// examples/ with 0.4 s per pct call (goal: under 3 s).
func BenchmarkConvergedRerunRealLatency(b *testing.B) {
	cfg := exampleConfig(b)
	h := newHost(b)
	runOn(b, cfg, h.Backend)
	slow := slowHost(b, h)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		require.NoError(b, os.RemoveAll(filepath.Join(h.state, "calls.log")))
		b.StartTimer()
		runOn(b, cfg, slow)
	}
	b.StopTimer()
	calls, err := readCallsOf(h.state)
	require.NoError(b, err)
	b.ReportMetric(float64(len(calls))/float64(len(cfg.Containers)), "calls/container")
	b.Logf("converged: pct calls per container: %s", formatCounts(perContainer(calls)))
}

// BenchmarkFreshRunRealLatency: a fresh `phoenix run` of examples/ with
// 0.4 s per pct call; its makespan against the critical path of the calls
// it made (each container's calls one after another, after those of what
// it depends on; goal: within 1.15×).
func BenchmarkFreshRunRealLatency(b *testing.B) {
	cfg := exampleConfig(b)
	var ratio float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHost(b)
		slow := slowHost(b, h)
		b.StartTimer()
		t0 := time.Now()
		runOn(b, cfg, slow)
		elapsed := time.Since(t0)
		b.StopTimer()
		calls, err := readCallsOf(h.state)
		require.NoError(b, err)
		counts := perContainer(calls)
		cp := criticalPath(cfg, counts)
		ratio = elapsed.Seconds() / cp.Seconds()
		b.Logf("fresh: pct calls per container: %s; makespan %s, critical path %s", formatCounts(counts), elapsed.Round(time.Millisecond), cp)
	}
	b.ReportMetric(ratio, "makespan/critical-path")
}

// criticalPath is the longest chain of pct calls: the listing, then a
// container's own calls after the longest chain of what it depends on.
func criticalPath(cfg *engine.Config, counts map[int]int) time.Duration {
	memo := map[int]int{}
	var longest func(id int) int
	longest = func(id int) int {
		if n, ok := memo[id]; ok {
			return n
		}
		ct := cfg.Containers[id]
		before := 0
		deps := append([]int{ct.CloneFrom}, ct.Dependencies...)
		for _, d := range deps {
			if cfg.Containers[d] != nil {
				before = max(before, longest(d))
			}
		}
		memo[id] = before + counts[id]
		return memo[id]
	}
	n := 0
	for id := range cfg.Containers {
		n = max(n, longest(id))
	}
	return time.Duration(counts[0]+n) * realLatency
}

func readCallsOf(state string) ([][]string, error) { return fakepct.ReadCalls(state) }
