package config

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
)

// generatedLXC builds an LXC document with n containers: a base template,
// a few clone templates and clones with dependencies, every address unique.
func generatedLXC(tb testing.TB, n int) []byte {
	tb.Helper()
	entries := map[string]any{}
	for i := 0; i < n; i++ {
		id := 1000 + i
		e := map[string]any{
			"name":            fmt.Sprintf("ct-%d", id),
			"memory_mb":       2048,
			"cores":           2,
			"storage_pool":    "lxc-disks",
			"storage_size_gb": 32,
			"network_config": map[string]any{
				"name": "eth0", "bridge": "vmbr0",
				"ip": fmt.Sprintf("10.1.%d.%d/16", i/250, i%250+1), "gw": "10.1.255.254",
			},
			"mac_address":    fmt.Sprintf("52:54:00:%02X:%02X:%02X", i/65536, (i/256)%256, i%256),
			"gpu_assignment": "none",
			"portainer_role": "none",
			"unprivileged":   true,
			"features":       []string{"docker", "vllm"},
		}
		switch {
		case i == 0:
			e["template"] = "ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
			e["template_snapshot_name"] = "base"
			e["features"] = "nesting=1,keyctl=1"
		case i < 10:
			e["clone_from_ctid"] = "1000"
			e["template_snapshot_name"] = "tier"
		default:
			e["clone_from_ctid"] = fmt.Sprint(1001 + i%9)
			if i%2 == 0 {
				e["dependencies"] = []string{fmt.Sprint(1000 + i - 1)}
			}
		}
		entries[fmt.Sprint(id)] = e
	}
	b, err := json.Marshal(map[string]any{"nvidia_driver_version": "580.76.05", "lxc_configs": entries})
	require.NoError(tb, err)
	return b
}

func TestGeneratedConfigLoads(t *testing.T) {
	cfg, err := LoadBytes("", nil, "gen.json", generatedLXC(t, 1000))
	require.NoError(t, err)
	require.Len(t, cfg.Containers, 1000)
	require.Empty(t, cfg.Warnings)
}

// BenchmarkLoad1000 measures LoadBytes of a generated 1,000-container
// configuration, with the v09 hypervisor file.
func BenchmarkLoad1000(b *testing.B) {
	lxc := generatedLXC(b, 1000)
	hv, err := os.ReadFile(filepath.Join(originals, "v09_ti_main_0385ea2_2025-11-04", "phoenix_hypervisor_config.json"))
	require.NoError(b, err)
	b.SetBytes(int64(len(lxc)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := LoadBytes("hv.json", hv, "lxc.json", lxc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPhoenixPlan1000 is what `phoenix plan` does with a generated
// 1,000-container configuration, hooks aside: load and validate the JSON,
// build the DAG, dry-run every container on an empty host, write the plan
// and the summary. It reports the peak heap in use while it runs.
func BenchmarkPhoenixPlan1000(b *testing.B) {
	lxc := generatedLXC(b, 1000)
	hv, err := os.ReadFile(filepath.Join(originals, "v09_ti_main_0385ea2_2025-11-04", "phoenix_hypervisor_config.json"))
	require.NoError(b, err)
	planOnce := func() {
		cfg, err := LoadBytes("hv.json", hv, "lxc.json", lxc)
		if err != nil {
			b.Fatal(err)
		}
		res, err := engine.Run(context.Background(), engine.RunOptions{
			Config: cfg, Backend: dryrun.New(nil), DryRun: true,
			ProcDevices: func() ([]byte, error) { return nil, nil },
		})
		if err != nil || res.ExitCode() != engine.ExitOK || len(res.Containers) != 1000 {
			b.Fatalf("plan: %v (exit %d)", err, res.ExitCode())
		}
		engine.WritePlan(io.Discard, res, engine.PlanOptions{})
		engine.WriteSummary(io.Discard, res, false)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // sample the heap in use while the plans run
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	for b.Loop() {
		planOnce()
	}
	close(stop)
	<-done
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	if per := b.Elapsed() / time.Duration(b.N); per > time.Second {
		b.Errorf("a plan of 1,000 containers took %v; the goal is < 1s", per)
	}
}
