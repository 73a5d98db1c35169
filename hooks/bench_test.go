package hooks

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkShellHook is the cost of one trivial legacy hook run on a
// non-pct backend: shim dir and server, process start, output streaming.
func BenchmarkShellHook(b *testing.B) {
	benchShellHook(b, false)
}

// BenchmarkShellHookDryRunIsolated adds the dry-run isolation (the
// throwaway layer, bubblewrap, the last stage inside). The difference of
// the two benchmarks' median-ms is the time the isolation adds:
//
//	go test ./hooks -run '^$' -bench 'ShellHook' -benchtime 20x
func BenchmarkShellHookDryRunIsolated(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: the dry-run isolation uses a private mount and network namespace")
	}
	benchShellHook(b, true)
}

func benchShellHook(b *testing.B, dry bool) {
	f := newShellFixture(b, 940)
	if err := os.WriteFile(HookPath(f.dir, 940, "sh"), []byte("#!/bin/sh\npct status \"$1\"\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	req := f.req()
	req.DryRun = dry
	req.LogFile = ""
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := f.runner.Run(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "median-ms")
}
