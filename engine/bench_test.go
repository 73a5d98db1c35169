package engine_test

import (
	"context"
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
)

// generatedConfig is n containers in a random DAG: most are clones of an
// earlier one, some also depend on up to two others. Seeded: every run
// plans the same graph.
func generatedConfig(n int, seed int64) *engine.Config {
	rng := rand.New(rand.NewSource(seed))
	cfg := exampleConfig()
	cfg.Containers = make(map[int]*engine.Container, n)
	for i := 0; i < n; i++ {
		id := 1000 + i
		ct := &engine.Container{
			CTID: id, Hostname: "ct" + itoa(id), MemoryMB: 512, Cores: 1, Template: ubuntu,
			StoragePool: "local-lvm", StorageSizeGB: 8, Unprivileged: true,
			Net: &engine.NetConfig{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"},
		}
		if i > 0 && rng.Intn(10) < 8 {
			ct.CloneFrom = 1000 + rng.Intn(i)
		}
		for k := rng.Intn(3); k > 0 && i > 0; k-- {
			ct.Dependencies = append(ct.Dependencies, 1000+rng.Intn(i))
		}
		cfg.Containers[id] = ct
	}
	return cfg
}

// peakHeap samples HeapInuse while f runs and returns the highest value.
func peakHeap(f func()) uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		for {
			old := peak.Load()
			if m.HeapInuse <= old || peak.CompareAndSwap(old, m.HeapInuse) {
				return
			}
		}
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	sample()
	return peak.Load()
}

func BenchmarkPlan1000(b *testing.B) {
	cfg := generatedConfig(1000, 1)
	if _, err := engine.BuildPlan(cfg, nil); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	peak := peakHeap(func() {
		for i := 0; i < b.N; i++ {
			p, err := engine.BuildPlan(cfg, nil)
			if err != nil || len(p.Order) != 1000 {
				b.Fatalf("plan: %v", err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peak-min(peak, before.HeapInuse))/(1<<20), "peak-heap-growth-MiB")
}

// BenchmarkRunOverheadPerContainer is the orchestration cost with a backend
// that answers at once: planning, scheduling, stage checks, events.
func BenchmarkRunOverheadPerContainer(b *testing.B) {
	const n = 200
	cfg := generatedConfig(n, 2)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		host := newHost()
		b.StartTimer()
		res, err := engine.Run(context.Background(), engine.RunOptions{Config: cfg, Backend: host, Parallel: 4})
		if err != nil || res.ExitCode() != engine.ExitOK {
			b.Fatalf("run: %v %+v", err, res)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/container")
}

// BenchmarkMakespanExampleDAG runs the example deployment of examples/
// (900 → 901, 902, 940; 902 → 910; 901 → 920 → 950) against a backend
// taking 50ms per call and compares the run's wall time with the critical
// path: the heaviest chain of containers, each weighing its own number of
// calls × 50ms.
func BenchmarkMakespanExampleDAG(b *testing.B) {
	const perCall = 50 * time.Millisecond
	var ratio float64
	for i := 0; i < b.N; i++ {
		cfg, err := config.Load("../examples/phoenix_hypervisor_config.json", "../examples/phoenix_lxc_configs.json")
		if err != nil {
			b.Fatalf("load examples/: %v", err)
		}
		host := newHost()
		host.Delay = perCall
		start := time.Now()
		res, err := engine.Run(context.Background(), engine.RunOptions{Config: cfg, Backend: host, Hooks: luaHooks(cfg)})
		makespan := time.Since(start)
		if err != nil || res.ExitCode() != engine.ExitOK {
			b.Fatalf("run: %v", err)
		}
		calls := map[int]int{}
		for _, c := range host.Calls() {
			calls[c.Origin.CTID]++
		}
		plan, _ := engine.BuildPlan(cfg, nil)
		bound := criticalPath(plan, calls, perCall)
		ratio = float64(makespan) / float64(bound)
		b.ReportMetric(makespan.Seconds(), "makespan-s")
		b.ReportMetric(bound.Seconds(), "critical-path-s")
	}
	b.ReportMetric(ratio, "ratio")
	if ratio > 1.10 {
		b.Errorf("makespan is %.3f× the critical path; the goal is ≤ 1.10×", ratio)
	}
}

// criticalPath is the longest dependency chain, weighing each container
// by its calls.
func criticalPath(p *engine.Plan, calls map[int]int, perCall time.Duration) time.Duration {
	finish := map[int]time.Duration{}
	var longest time.Duration
	for _, id := range p.Order { // topological: deps first
		var ready time.Duration
		for _, d := range p.Deps[id] {
			ready = max(ready, finish[d])
		}
		finish[id] = ready + time.Duration(calls[id])*perCall
		longest = max(longest, finish[id])
	}
	return longest
}
