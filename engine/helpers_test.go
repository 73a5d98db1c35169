package engine_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/hostsim"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
	"github.com/stretchr/testify/require"
)

const (
	testDriver  = "580.76.06"
	testRunfile = "https://us.download.nvidia.com/XFree86/Linux-x86_64/580.76.06/NVIDIA-Linux-x86_64-580.76.06.run"
	ubuntu      = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
)

// exampleConfig is the v06 reference stack: 900 template; 901, 902 clone
// 900; 910 clones 902; 920 clones 901; 950 clones 920.
func exampleConfig() *engine.Config {
	ct := func(id int, name string, mem, cores int, ip, mac string) *engine.Container {
		return &engine.Container{
			CTID: id, Hostname: name, MemoryMB: mem, Cores: cores, Template: ubuntu,
			StoragePool: "lxc-disks", StorageSizeGB: 32, Unprivileged: true,
			Net:           &engine.NetConfig{Name: "eth0", Bridge: "vmbr0", IP: ip, GW: "10.0.0.1", HWAddr: mac},
			GPUAssignment: "none", PortainerRole: "none",
			Raw: map[string]any{"name": name, "memory_mb": float64(mem)},
		}
	}
	c900 := ct(900, "BaseTemplate", 2048, 2, "10.0.0.200/24", "52:54:00:AA:BB:CC")
	c900.IsTemplate, c900.TemplateSnapshot = true, "base-snapshot"
	c901 := ct(901, "BaseTemplateGPU", 2048, 2, "10.0.0.201/24", "52:54:00:AA:BB:CD")
	c901.IsTemplate, c901.TemplateSnapshot, c901.CloneFrom, c901.GPUAssignment = true, "gpu-snapshot", 900, "0,1"
	c902 := ct(902, "BaseTemplateDocker", 2048, 2, "10.0.0.202/24", "52:54:00:AA:BB:CE")
	c902.IsTemplate, c902.TemplateSnapshot, c902.CloneFrom = true, "docker-snapshot", 900
	c902.PctFeatures = map[string]string{"nesting": "1"}
	c910 := ct(910, "Portainer", 32768, 6, "10.0.0.99/24", "52:54:00:67:89:99")
	c910.CloneFrom, c910.PortainerRole = 902, "server"
	c910.PctFeatures = map[string]string{"nesting": "1"}
	c920 := ct(920, "BaseTemplateVLLM", 4096, 4, "10.0.0.220/24", "52:54:00:AA:BB:D1")
	c920.IsTemplate, c920.TemplateSnapshot, c920.CloneFrom, c920.GPUAssignment = true, "vllm-base-snapshot", 901, "0,1"
	c920.PctFeatures = map[string]string{"nesting": "1"}
	c920.Named = []string{"vllm"}
	c950 := ct(950, "vllmQwen3Coder", 40960, 8, "10.0.0.150/24", "52:54:00:67:89:B0")
	c950.CloneFrom, c950.GPUAssignment = 920, "0,1"
	c950.PctFeatures = map[string]string{"nesting": "1", "keyctl": "1"}
	c950.Named = []string{"vllm"}
	cfg := &engine.Config{
		NvidiaDriverVersion: testDriver,
		NvidiaRunfileURL:    testRunfile,
		PortainerServerIP:   "10.0.0.99",
		PortainerServerPort: 9443,
		PortainerAgentPort:  9001,
		Containers:          map[int]*engine.Container{},
	}
	for _, c := range []*engine.Container{c900, c901, c902, c910, c920, c950} {
		cfg.Containers[c.CTID] = c
	}
	return cfg
}

// oneConfig is a config with the given containers only.
func oneConfig(cts ...*engine.Container) *engine.Config {
	cfg := exampleConfig()
	cfg.Containers = map[int]*engine.Container{}
	for _, c := range cts {
		cfg.Containers[c.CTID] = c
	}
	return cfg
}

// newHost is an empty fake host whose containers answer as
// internal/hostsim models them (memhost.NewModel, as the fake pct's do):
// an install makes its probe succeed, a clone has what its source's
// snapshot had.
func newHost() *memhost.Backend { return memhost.NewModel() }

// installed is what the install scripts leave in a container, as the
// files internal/hostsim reads: "docker", "toolkit", "nvidia=VERSION",
// "container:NAME" (a docker container).
func installed(things ...string) map[string][]byte {
	files := map[string][]byte{}
	for _, t := range things {
		k, v, _ := strings.Cut(t, "=")
		switch name, isCT := strings.CutPrefix(k, "container:"); {
		case k == "docker":
			files[hostsim.DockerBinary] = nil
		case k == "toolkit":
			files[hostsim.NvidiaCTKFile] = nil
		case k == "nvidia":
			files[hostsim.NvidiaVersionFile] = []byte(v + "\n")
		case isCT:
			files[hostsim.DockerMarker(name)] = []byte(name + "\n")
		default:
			panic("installed: unknown thing " + t)
		}
	}
	return files
}

// stubHooks is a HookRunner with fixed hooks per CTID.
type stubHooks struct {
	mu    sync.Mutex
	infos map[int]engine.HookInfo
	fail  map[int]error
	ran   []int
	reqs  []engine.HookRequest
	// act, when set, runs inside Run (to make backend calls as a hook).
	act func(ctx context.Context, req engine.HookRequest) error
}

func (h *stubHooks) Describe(ct *engine.Container) engine.HookInfo { return h.infos[ct.CTID] }

func (h *stubHooks) Run(ctx context.Context, req engine.HookRequest) error {
	h.mu.Lock()
	h.ran = append(h.ran, req.Container.CTID)
	h.reqs = append(h.reqs, req)
	err := h.fail[req.Container.CTID]
	act := h.act
	h.mu.Unlock()
	if act != nil {
		if e := act(ctx, req); e != nil {
			return e
		}
	}
	return err
}

func (h *stubHooks) Ran() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.ran...)
}

// luaHooks gives every container of cfg a ready Lua hook.
func luaHooks(cfg *engine.Config) *stubHooks {
	h := &stubHooks{infos: map[int]engine.HookInfo{}, fail: map[int]error{}}
	for id := range cfg.Containers {
		h.infos[id] = engine.HookInfo{Kind: engine.HookLua, Path: "/hooks/phoenix_hypervisor_setup_" + itoa(id) + ".lua", State: engine.HookReady, Digest: "d" + itoa(id)}
	}
	return h
}

func itoa(i int) string { return strconv.Itoa(i) }

// events is a concurrency-safe Sink that keeps everything.
type events struct {
	mu  sync.Mutex
	all []engine.Event
}

func (e *events) Emit(ev engine.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) Of(kind string) []engine.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []engine.Event
	for _, ev := range e.all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// run is engine.Run with test defaults.
func run(t *testing.T, o engine.RunOptions) *engine.Result {
	t.Helper()
	if o.StartTimeout == 0 {
		o.StartTimeout = 5 * time.Second
	}
	res, err := engine.Run(context.Background(), o)
	require.NoError(t, err)
	return res
}

// container finds a container's result.
func container(t *testing.T, r *engine.Result, ctid int) *engine.ContainerResult {
	t.Helper()
	for _, c := range r.Containers {
		if c.CTID == ctid {
			return c
		}
	}
	t.Fatalf("no result for container %d", ctid)
	return nil
}

// stageOf finds a stage's result, or nil.
func stageOf(c *engine.ContainerResult, stage string) *engine.StageResult {
	for i := range c.Stages {
		if c.Stages[i].Stage == stage {
			return &c.Stages[i]
		}
	}
	return nil
}

// mutatingArgv is the pct argv of the mutating calls made in stage (all
// stages when stage is "").
func mutatingArgv(b *memhost.Backend, ctid int, stage string) []string {
	var out []string
	for _, c := range b.MutatingCalls() {
		if c.Origin.CTID == ctid && (stage == "" || c.Origin.Stage == stage) {
			out = append(out, strings.Join(pve.NormalizeEnvFile(c.Argv), " "))
		}
	}
	return out
}

var errBoom = errors.New("boom")
