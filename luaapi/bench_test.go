package luaapi

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// BenchmarkSandboxTrivialHook is a fresh sandbox (never pooled) running a
// trivial hook with one pct_exec and one log line. Goal: median <= 1 ms.
func BenchmarkSandboxTrivialHook(b *testing.B) {
	be := memhost.New()
	be.Put(950, &memhost.Container{Running: true})
	src := []byte(`local r = pct_exec({"true"})
log.info("ctid %d exit %d", phoenix.ctid, r.code)`)
	ctx := context.Background()
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%1000 == 0 {
			be.ResetCalls()
		}
		start := time.Now()
		if err := Run(ctx, Options{CTID: 950, Path: "phoenix_hypervisor_setup_950.lua", Source: src, Backend: be}); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds()), "median-µs")
}

// BenchmarkWorkerTrivialHook is the same hook in a re-executed worker
// process: the price of the strongest memory isolation.
func BenchmarkWorkerTrivialHook(b *testing.B) {
	be := memhost.New()
	be.Put(950, &memhost.Container{Running: true})
	src := []byte(`local r = pct_exec({"true"})
log.info("ctid %d exit %d", phoenix.ctid, r.code)`)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := RunIsolated(context.Background(), Options{CTID: 950, Path: "phoenix_hypervisor_setup_950.lua", Source: src, Backend: be}, exe); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds()), "median-µs")
}
