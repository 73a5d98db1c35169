package hooks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

// plan1000Lua is a 1,000-container configuration (a template and 999
// clones of it) whose every container has a small Lua hook.
func plan1000Lua(b *testing.B) (*engine.Config, string) {
	dir := b.TempDir()
	cfg := &engine.Config{Hypervisor: map[string]any{}, LXC: map[string]any{}, Containers: map[int]*engine.Container{}}
	for i := 0; i < 1000; i++ {
		id := 1000 + i
		ct := &engine.Container{
			CTID: id, Hostname: fmt.Sprintf("ct%d", id), MemoryMB: 512, Cores: 1, StoragePool: "local-lvm",
			StorageSizeGB: 8, Unprivileged: true, GPUAssignment: "none", PortainerRole: "none",
			Net: &engine.NetConfig{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"},
			Raw: map[string]any{"name": fmt.Sprintf("ct%d", id), "packages": []any{"curl", "jq"}},
		}
		if i == 0 {
			ct.Template, ct.IsTemplate, ct.TemplateSnapshot = "local:vztmpl/ubuntu-24.04.tar.zst", true, "base"
		} else {
			ct.CloneFrom = 1000
		}
		cfg.Containers[id] = ct
		hook := `local ct = config.container()
pct_exec({ "apt-get", "install", "-y", unpack(ct.packages) })
pct_push("managed by phoenix\n", "/etc/motd", { perms = "0644" })
log.info("%s ready", ct.name)
`
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("phoenix_hypervisor_setup_%d.lua", id)), []byte(hook), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return cfg, dir
}

// BenchmarkPlan1000Lua is `phoenix plan` of 1,000 containers with Lua
// hooks: engine.Run in dry-run on the dry-run recorder of an empty host,
// every hook run in its own fresh sandbox.
func BenchmarkPlan1000Lua(b *testing.B) { benchPlan1000(b, context.Background()) }

// BenchmarkPlan1000LuaWorkers is the same plan as `phoenix plan` really
// makes it: each hook in its own worker process (luaapi.WithWorker).
func BenchmarkPlan1000LuaWorkers(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	benchPlan1000(b, luaapi.WithWorker(context.Background(), exe))
}

func benchPlan1000(b *testing.B, ctx context.Context) {
	cfg, dir := plan1000Lua(b)
	runner := NewRunner(Options{Dir: dir})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var hookCalls atomic.Int64
		res, err := engine.Run(ctx, engine.RunOptions{
			Config: cfg, Backend: dryrun.New(nil), Hooks: runner, DryRun: true, Parallel: 4,
			Events: engine.SinkFunc(func(e engine.Event) {
				if e.Kind == engine.EventAction && strings.HasSuffix(e.Source, ".lua:2") {
					hookCalls.Add(1)
				}
			}),
		})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range res.Containers {
			if c.State == engine.StageFailed {
				b.Fatalf("container %d failed: %+v", c.CTID, c)
			}
		}
		if n := hookCalls.Load(); n != 1000 {
			b.Fatalf("%d hook pct_exec actions in the plan, want 1000", n)
		}
	}
}
