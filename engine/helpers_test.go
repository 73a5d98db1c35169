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
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
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

// sim answers the probes and install scripts of the built-in stages the
// way a container would: an install makes its probe succeed. A clone sees
// what its source had installed.
type sim struct {
	mu        sync.Mutex
	installed map[int]map[string]string // ctid → thing → value
	parent    map[int]int
}

func newSim(cfg *engine.Config) *sim {
	s := &sim{installed: map[int]map[string]string{}, parent: map[int]int{}}
	for id, c := range cfg.Containers {
		s.parent[id] = c.CloneFrom
	}
	return s
}

func (s *sim) set(ctid int, k, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.installed[ctid] == nil {
		s.installed[ctid] = map[string]string{}
	}
	s.installed[ctid][k] = v
}

func (s *sim) get(ctid int, k string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := ctid; id != 0; id = s.parent[id] {
		if v, ok := s.installed[id][k]; ok {
			return v, true
		}
	}
	return "", false
}

func (s *sim) exec(ctid int, argv []string, _ engine.ExecOptions) (engine.ExecResult, bool) {
	missing := engine.ExecResult{Code: 127, Stderr: argv[0] + ": command not found\n"}
	has := func(k string) engine.ExecResult {
		if _, ok := s.get(ctid, k); ok {
			return engine.ExecResult{}
		}
		return missing
	}
	joined := strings.Join(argv, " ")
	switch {
	case argv[0] == "nvidia-smi":
		if v, ok := s.get(ctid, "nvidia"); ok {
			return engine.ExecResult{Stdout: v + "\n" + v + "\n"}, true
		}
		return missing, true
	case joined == "docker info":
		return has("docker"), true
	case joined == "nvidia-ctk --version":
		return has("toolkit"), true
	case len(argv) == 3 && argv[0] == "docker" && argv[1] == "inspect":
		return has("container:" + argv[2]), true
	case len(argv) > 4 && argv[0] == "docker" && argv[1] == "run":
		s.set(ctid, "container:"+argv[4], "1")
		return engine.ExecResult{}, true
	case len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c":
		first, _, _ := strings.Cut(argv[2], "\n")
		switch {
		case strings.HasPrefix(first, "# phoenix:install-nvidia-toolkit"):
			s.set(ctid, "toolkit", "1")
		case strings.HasPrefix(first, "# phoenix:install-nvidia "):
			s.set(ctid, "nvidia", strings.TrimPrefix(first, "# phoenix:install-nvidia "))
		case first == "# phoenix:install-docker":
			s.set(ctid, "docker", "1")
		default:
			return engine.ExecResult{}, false
		}
		return engine.ExecResult{Stdout: "installed\n"}, true
	}
	return engine.ExecResult{}, false
}

// newHost is an empty fake host whose containers behave per sim.
func newHost(cfg *engine.Config) (*memhost.Backend, *sim) {
	b := memhost.New()
	s := newSim(cfg)
	b.Exec_ = s.exec
	return b, s
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
			out = append(out, strings.Join(c.Argv, " "))
		}
	}
	return out
}

var errBoom = errors.New("boom")
