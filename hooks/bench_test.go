package hooks

import (
	"context"
	"os"
	"testing"
)

// BenchmarkShellHook is the cost of one trivial legacy hook run on a
// non-pct backend: shim dir and server, process start, output streaming.
func BenchmarkShellHook(b *testing.B) {
	benchShellHook(b, false)
}

// BenchmarkShellHookDryRunIsolated adds the dry-run isolation (namespaces,
// overlays, pivot_root) and one pct call through the shim.
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
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f.runner.Run(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
