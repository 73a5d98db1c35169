package engine_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
	"github.com/phoenix-hypervisor/phoenix/internal/reftest"
)

// The plan is a promise (design.md): the mutating calls `phoenix plan`
// lists are exactly those the following run makes on the same host, in
// each container's order. TestPlanEqualsApply checks it on the examples,
// every reference config v04–v09 and generated DAGs, each on an empty, a
// converged and a half-built host (a run killed at a random call), one
// where a template's values changed and one where a clone's did, with
// hooks that branch on what they read. `make fuzz-plan` runs more cases.
var (
	planCases = flag.Int("plan-cases", 200, "generated cases of TestPlanEqualsApply (make fuzz-plan sets more)")
	planSeed  = flag.Int64("plan-seed", 1, "first seed of TestPlanEqualsApply's generated cases")
)

// planScenarios are the host states every config is checked on.
var planScenarios = []string{"empty", "converged", "half-built", "template-changed", "clone-changed"}

func TestPlanEqualsApply(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, name := range referenceConfigs(t) {
		cfg := loadReference(t, name)
		for i, sc := range planScenarios {
			t.Run(filepath.Base(filepath.Dir(name))+"/"+sc, func(t *testing.T) {
				checkPlanEqualsApply(t, cfg, sc, rand.New(rand.NewSource(int64(i))))
			})
			checked++
		}
	}
	for i := 0; i < *planCases; i++ {
		seed := *planSeed + int64(i)
		r := rand.New(rand.NewSource(seed))
		cfg := genConfig(r)
		sc := planScenarios[r.Intn(len(planScenarios))]
		t.Run(fmt.Sprintf("gen/seed=%d/%s", seed, sc), func(t *testing.T) {
			checkPlanEqualsApply(t, cfg, sc, r)
		})
		checked++
	}
	t.Logf("plan = apply checked on %d cases (%d generated, seeds %d..%d)", checked, *planCases, *planSeed, *planSeed+int64(*planCases)-1)
}

// referenceConfigs are examples/ and the lxc config of every supported era.
func referenceConfigs(t *testing.T) []string {
	t.Helper()
	out := []string{filepath.Join("..", "examples", "phoenix_lxc_configs.json")}
	dirs, err := filepath.Glob(filepath.Join("config", "testdata", "original-configs", "v0[4-9]*"))
	require.NoError(t, err)
	require.Len(t, dirs, 6, "v04..v09")
	for _, d := range dirs {
		out = append(out, filepath.Join(d, "phoenix_lxc_configs.json"))
	}
	return out
}

// loadReference loads a reference config with unprivileged dropped from
// its clones: they inherit it anyway (pct clone copies it), and v05's
// privileged clones of unprivileged templates are a config error.
func loadReference(t *testing.T, lxc string) *engine.Config {
	t.Helper()
	hv := filepath.Join(filepath.Dir(lxc), "phoenix_hypervisor_config.json")
	var hvDoc []byte
	if b, err := os.ReadFile(hv); err == nil {
		hvDoc = b
	} else {
		hv = ""
	}
	raw, err := os.ReadFile(lxc)
	require.NoError(t, err)
	raw, err = reftest.ClonesInherit(raw)
	require.NoError(t, err, lxc)
	cfg, err := config.LoadBytes(hv, hvDoc, lxc, raw)
	require.NoError(t, err, lxc)
	if cfg.NvidiaDriverVersion == "" {
		cfg.NvidiaDriverVersion = testDriver
	}
	return cfg
}

// genConfig is a random DAG: created containers and clones (of clones),
// templates, dependencies, GPU (devN and legacy raw lines) and Docker
// containers with Portainer roles, clones on another storage pool.
func genConfig(r *rand.Rand) *engine.Config {
	cfg := &engine.Config{NvidiaDriverVersion: testDriver, NvidiaRunfileURL: testRunfile, PortainerServerIP: "10.0.0.99", Containers: map[int]*engine.Container{}}
	n := 2 + r.Intn(7)
	var ids []int
	for i := 0; i < n; i++ {
		id := 200 + 10*i + r.Intn(10)
		ct := &engine.Container{
			CTID: id, Hostname: "ct" + strconv.Itoa(id), MemoryMB: 512 * (1 + r.Intn(8)), Cores: 1 + r.Intn(4),
			StoragePool: "local-lvm", StorageSizeGB: 8, Unprivileged: r.Intn(2) == 0,
			Net:           &engine.NetConfig{Name: "eth0", Bridge: "vmbr0", IP: fmt.Sprintf("10.0.0.%d/24", i+10), GW: "10.0.0.1"},
			GPUAssignment: "none", PortainerRole: "none",
			Raw: map[string]any{"name": "ct" + strconv.Itoa(id)},
		}
		if len(ids) == 0 || r.Intn(3) == 0 {
			ct.Template = ubuntu
		} else {
			ct.CloneFrom = ids[r.Intn(len(ids))]
		}
		if r.Intn(5) < 2 {
			ct.IsTemplate, ct.TemplateSnapshot = true, "snap-"+strconv.Itoa(id)
		}
		if r.Intn(10) < 3 {
			ct.GPUAssignment = []string{"0", "0,1"}[r.Intn(2)]
			ct.GPULegacyLXC = r.Intn(3) == 0
		}
		if r.Intn(10) < 4 {
			ct.Named = append(ct.Named, "docker")
			ct.PortainerRole = []string{"none", "server", "agent"}[r.Intn(3)]
		}
		if r.Intn(3) == 0 {
			ct.PctFeatures = map[string]string{"nesting": "1"}
		}
		if len(ids) > 0 && r.Intn(5) == 0 {
			ct.Dependencies = []int{ids[r.Intn(len(ids))]}
		}
		if ct.CloneFrom != 0 && r.Intn(4) == 0 {
			ct.StoragePool = "tank" // cloned with --storage, unless its source is there
		}
		cfg.Containers[id] = ct
		ids = append(ids, id)
	}
	return cfg
}

// checkPlanEqualsApply prepares the host of scenario sc, plans, then runs,
// and compares the plan's mutating calls with the run's, per container.
func checkPlanEqualsApply(t *testing.T, cfg *engine.Config, sc string, r *rand.Rand) {
	t.Helper()
	hooks := genHooks(cfg, r)
	host := memhost.NewModel()
	switch sc {
	case "converged":
		realRun(t, cfg, host, hooks)
	case "half-built":
		var n, at int64 = 0, int64(r.Intn(80))
		host.Fail = func(op string, ctid int, argv []string) error {
			if atomic.AddInt64(&n, 1) == at {
				return errors.New("killed here")
			}
			return nil
		}
		realRun(t, cfg, host, hooks)
		host.Fail = nil
	case "template-changed", "clone-changed":
		realRun(t, cfg, host, hooks)
		cfg = changeOne(cfg, sc == "template-changed", r)
	}
	host.ResetCalls()

	plan := dryrun.New(host)
	planRes := runWith(t, cfg, plan, hooks, true)
	require.Empty(t, host.MutatingCalls(), "the plan changed the host")
	require.Len(t, actionsOf(planRes), len(plan.Calls()), "every recorded call is a listed action")
	planned := byContainer(actionsOf(planRes))

	applyRes := runWith(t, cfg, host, hooks, false)
	applied := byContainer(memCalls(host))

	for _, id := range sortedIDs(planned, applied) {
		if d := firstDiff(planned[id], applied[id]); d != "" {
			t.Errorf("container %d: plan and run differ at %s\nplan:\n  %s\nrun:\n  %s", id, d,
				cmds(planned[id]), cmds(applied[id]))
		}
	}
	if t.Failed() {
		t.Logf("plan summary: %s\nrun summary: %s", summary(planRes), summary(applyRes))
	}
}

func runWith(t *testing.T, cfg *engine.Config, b engine.Backend, hooks engine.HookRunner, dry bool) *engine.Result {
	t.Helper()
	res, err := engine.Run(context.Background(), engine.RunOptions{
		Config: cfg, Backend: b, Hooks: hooks, DryRun: dry, Parallel: 4, StartTimeout: 5 * time.Second,
		ProcDevices: func() ([]byte, error) { return []byte("195 nvidia\n508 nvidia-uvm\n"), nil },
	})
	require.NoError(t, err)
	return res
}

func realRun(t *testing.T, cfg *engine.Config, host *memhost.Backend, hooks engine.HookRunner) {
	t.Helper()
	runWith(t, cfg, host, hooks, false)
}

// changeOne returns cfg with one template's (or one clone's) memory and
// cores changed; false when there is none such, cfg itself.
func changeOne(cfg *engine.Config, template bool, r *rand.Rand) *engine.Config {
	var pick []int
	for id, ct := range cfg.Containers {
		if (ct.IsTemplate || ct.TemplateSnapshot != "") == template && (template || ct.CloneFrom != 0) {
			pick = append(pick, id)
		}
	}
	if len(pick) == 0 {
		return cfg
	}
	sort.Ints(pick)
	id := pick[r.Intn(len(pick))]
	out := *cfg
	out.Containers = make(map[int]*engine.Container, len(cfg.Containers))
	for k, v := range cfg.Containers {
		out.Containers[k] = v
	}
	ct := *cfg.Containers[id]
	ct.MemoryMB += 256
	ct.Cores++
	ct.Raw = map[string]any{"changed": true}
	out.Containers[id] = &ct
	return &out
}

// genHookRunner runs generated hooks: commands, pushes, and branches on what it
// reads through the backend (its container's config and status).
type genHookRunner struct {
	steps map[int][]string
}

func genHooks(cfg *engine.Config, r *rand.Rand) *genHookRunner {
	h := &genHookRunner{steps: map[int][]string{}}
	kinds := []string{"exec", "push", "if-memory", "if-running", "if-code", "none"}
	for _, id := range sortedIDs(cfg.Containers) {
		if r.Intn(4) == 0 {
			continue // no hook
		}
		for i := r.Intn(4); i >= 0; i-- {
			h.steps[id] = append(h.steps[id], kinds[r.Intn(len(kinds))])
		}
	}
	return h
}

func (h *genHookRunner) Describe(ct *engine.Container) engine.HookInfo {
	steps, ok := h.steps[ct.CTID]
	if !ok {
		return engine.HookInfo{}
	}
	return engine.HookInfo{Kind: engine.HookLua, Path: "/hooks/gen_" + itoa(ct.CTID) + ".lua", State: engine.HookReady, Digest: strings.Join(steps, ",")}
}

func (h *genHookRunner) Run(ctx context.Context, req engine.HookRequest) error {
	id := req.Container.CTID
	b := req.Backend
	for i, step := range h.steps[id] {
		ctx := engine.WithOrigin(ctx, engine.Origin{CTID: id, Stage: engine.StageHook, Source: fmt.Sprintf("gen_%d.lua:%d", id, i+1)})
		exec := func(argv ...string) (engine.ExecResult, error) { return b.Exec(ctx, id, argv, engine.ExecOptions{}) }
		var err error
		switch step {
		case "exec":
			_, err = exec("apt-get", "install", "-y", "pkg"+itoa(i))
		case "push":
			err = b.Push(ctx, id, fmt.Sprintf("/etc/gen/%d.conf", i), []byte("step "+itoa(i)), engine.PushOptions{Perms: "0644"})
		case "if-memory":
			var cfg map[string]string
			if cfg, err = b.Config(ctx, id); err == nil {
				if m, _ := strconv.Atoi(cfg["memory"]); m >= 2048 {
					_, err = exec("sysctl", "-w", "vm.big=1")
				} else {
					_, err = exec("sysctl", "-w", "vm.small=1")
				}
			}
		case "if-running":
			var st engine.Status
			if st, err = b.Status(ctx, id); err == nil && st.Running {
				_, err = exec("systemctl", "restart", "app")
			}
		case "if-code":
			var res engine.ExecResult
			if res, err = exec("systemctl", "is-active", "app"); err == nil && res.Code != 0 {
				_, err = exec("systemctl", "start", "app")
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// actionsOf is the plan's listed actions (what --output json prints as
// "kind":"action"), in order per container.
func actionsOf(res *engine.Result) []engine.Event {
	var out []engine.Event
	for _, c := range res.Containers {
		out = append(out, c.Actions...)
	}
	return out
}

func memCalls(b *memhost.Backend) []engine.Event {
	var out []engine.Event
	for _, c := range b.MutatingCalls() {
		// The env file's random name is the one thing the plan cannot know.
		out = append(out, engine.Event{CTID: c.Origin.CTID, Argv: pve.NormalizeEnvFile(c.Argv)})
	}
	return out
}

// step is one call as compared: its command line and the plan's note.
type step struct{ cmd, note string }

// byContainer groups calls by the container whose stage (or hook) made
// them, in order.
func byContainer(calls []engine.Event) map[int][]step {
	out := map[int][]step{}
	for _, e := range calls {
		id := e.CTID
		if id == 0 {
			id = callCTID(e.Argv)
		}
		out[id] = append(out[id], step{cmd: engine.FormatArgv(e.Argv), note: e.Note})
	}
	return out
}

func callCTID(argv []string) int {
	var s string
	switch {
	case strings.HasPrefix(argv[0], "# append to /etc/pve/lxc/"):
		s = strings.TrimSuffix(strings.TrimPrefix(argv[0], "# append to /etc/pve/lxc/"), ".conf:")
	case argv[0] == "clone":
		s = argv[2]
	default:
		s = argv[1]
	}
	n, _ := strconv.Atoi(s)
	return n
}

// firstDiff compares a container's planned and applied calls: equal, in
// order, except that a planned call the plan itself marked as a guess
// (engine.NoteInsideUnknown: the container is stopped on the host, so the
// plan could not look inside) may be one the run finds already done.
func firstDiff(plan, run []step) string {
	i, j := 0, 0
	for i < len(plan) || j < len(run) {
		switch {
		case i < len(plan) && j < len(run) && plan[i].cmd == run[j].cmd:
			i, j = i+1, j+1
		case i < len(plan) && plan[i].note == engine.NoteInsideUnknown:
			i++
		case i >= len(plan):
			return fmt.Sprintf("call %d: the run makes %q, the plan lists nothing", j+1, run[j].cmd)
		case j >= len(run):
			return fmt.Sprintf("call %d: the plan lists %q, the run makes nothing", i+1, plan[i].cmd)
		default:
			return fmt.Sprintf("call %d: plan %q, run %q", i+1, plan[i].cmd, run[j].cmd)
		}
	}
	return ""
}

func cmds(steps []step) string {
	var out []string
	for _, s := range steps {
		line := s.cmd
		if len(line) > 160 {
			line = line[:160] + "…"
		}
		if s.note != "" {
			line += "  (" + s.note + ")"
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n  ")
}

func sortedIDs[V any](ms ...map[int]V) []int {
	seen := map[int]bool{}
	var out []int
	for _, m := range ms {
		for id := range m {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	sort.Ints(out)
	return out
}

func summary(res *engine.Result) string {
	var b strings.Builder
	for _, c := range res.Containers {
		fmt.Fprintf(&b, "\n  %d %s", c.CTID, c.State)
		for _, s := range c.Stages {
			fmt.Fprintf(&b, " %s=%s(%s)", s.Stage, s.State, s.Detail)
		}
	}
	return b.String()
}

// TestPlanEqualsApplyRefreshingAStoppedTemplate: a converged template that
// is stopped and whose snapshot has no marker (taken before markers
// existed) is re-taken by --refresh-templates, and only warned about
// without it: the plan lists what the run does, for the same reason, on
// every reference config and generated DAGs.
func TestPlanEqualsApplyRefreshingAStoppedTemplate(t *testing.T) {
	t.Parallel()
	for _, name := range referenceConfigs(t) {
		t.Run(filepath.Base(filepath.Dir(name)), func(t *testing.T) {
			for _, refresh := range []bool{true, false} {
				checkRefreshStopped(t, loadReference(t, name), rand.New(rand.NewSource(1)), refresh)
			}
		})
	}
	for i := 0; i < *planCases/4; i++ {
		seed := *planSeed + int64(i)
		r := rand.New(rand.NewSource(seed))
		cfg := genConfig(r)
		t.Run(fmt.Sprintf("gen/seed=%d", seed), func(t *testing.T) { checkRefreshStopped(t, cfg, r, seed%2 == 0) })
	}
}

func checkRefreshStopped(t *testing.T, cfg *engine.Config, r *rand.Rand, refresh bool) {
	t.Helper()
	hooks := genHooks(cfg, r)
	host := memhost.NewModel()
	realRun(t, cfg, host, hooks)
	for id, ct := range cfg.Containers {
		if !ct.IsTemplate {
			continue
		}
		c := host.Get(id)
		delete(c.Files, engine.TemplateMarker(id))
		c.Running = false
		host.Put(id, c)
	}
	host.ResetCalls()
	o := engine.RunOptions{Config: cfg, Hooks: hooks, RefreshTemplates: refresh, Parallel: 4, StartTimeout: 5 * time.Second,
		ProcDevices: func() ([]byte, error) { return []byte("195 nvidia\n508 nvidia-uvm\n"), nil }}
	o.Backend, o.DryRun = dryrun.New(host), true
	planRes, err := engine.Run(context.Background(), o)
	require.NoError(t, err)
	require.Empty(t, host.MutatingCalls(), "the plan changed the host")
	planned := byContainer(actionsOf(planRes))

	o.Backend, o.DryRun = host, false
	applyRes, err := engine.Run(context.Background(), o)
	require.NoError(t, err)
	applied := byContainer(memCalls(host))
	for _, id := range sortedIDs(planned, applied) {
		if d := firstDiff(planned[id], applied[id]); d != "" {
			t.Errorf("container %d: plan and run differ at %s\nplan:\n  %s\nrun:\n  %s", id, d, cmds(planned[id]), cmds(applied[id]))
		}
	}
	// Why the snapshot is re-taken, and whether it is stale, are the
	// same: a hook the plan could not look into (the template is stopped)
	// is no evidence that it changed the container.
	for _, p := range planRes.Containers {
		a := container(t, applyRes, p.CTID)
		require.Equal(t, p.Warnings, a.Warnings, "%d: warnings", p.CTID)
		if cfg.Containers[p.CTID].IsTemplate {
			require.Equal(t, stageOf(a, engine.StageTemplate).Detail, stageOf(p, engine.StageTemplate).Detail, "%d: the template stage", p.CTID)
		}
	}
	if t.Failed() {
		t.Logf("plan summary: %s\nrun summary: %s", summary(planRes), summary(applyRes))
	}
}
