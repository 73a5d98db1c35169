package engine

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// The lifecycle verbs (status, start, stop, restart, destroy, graph) act on
// a deployment that `phoenix run` built. They reuse the run's machinery: the
// plan's DAG for their order, ctRun and runStage for events, results and the
// summary, Observe for the actions a dry-run previews.

// Lifecycle stage names (the summary's columns of these verbs).
const (
	StageStop    = "stop"
	StageDestroy = "destroy"
)

// LifecycleOptions configure start, stop, restart and destroy.
type LifecycleOptions struct {
	Config  *Config
	Backend Backend // the dry-run recorder when DryRun
	DryRun  bool
	// CTIDs are the containers to act on; every one must be in Config.
	CTIDs  []int
	Events Sink // may be nil
	// ShutdownTimeout is `pct shutdown --timeout`; after it the container is
	// stopped (`pct stop`). <=0: 60s.
	ShutdownTimeout time.Duration
	// Sleep waits boot_delay after a start; nil: a timer (ctx ends it).
	// Dry-run never waits.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o *LifecycleOptions) defaults() {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = shutdownTimeout
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// BootOrder is the container's boot_order (v07+: Proxmox's startup
// order=N), ok false when the config has none.
func BootOrder(ct *Container) (order int, ok bool) {
	if b := ct.Later.Boot; b != nil && b.Order != nil {
		return *b.Order, true
	}
	return 0, false
}

// BootDelay is the container's boot_delay (v07+: Proxmox's startup up=N),
// the pause after it starts before the next container starts; 0 when
// unset.
func BootDelay(ct *Container) time.Duration {
	if b := ct.Later.Boot; b != nil && b.Delay != nil {
		return time.Duration(*b.Delay) * time.Second
	}
	return 0
}

// StartOrder orders ctids for a start: every container after the chosen
// ones it depends on (its clone source and dependencies, transitively,
// also through containers that are not chosen); between independent ones,
// by boot_order (containers with one first, lower first, as Proxmox boots
// them), then by CTID. A stop goes in the reverse order.
func StartOrder(cfg *Config, ctids []int) ([]int, error) {
	full, err := BuildPlan(cfg, nil)
	if err != nil {
		return nil, err
	}
	chosen := map[int]bool{}
	for _, id := range ctids {
		if cfg.Containers[id] == nil {
			return nil, fmt.Errorf("container %d is not in lxc_configs: check --ctid against `phoenix status`", id)
		}
		chosen[id] = true
	}
	deps := map[int][]int{}
	for id := range chosen {
		deps[id] = chosenAncestors(full.Deps, chosen, id)
	}
	less := func(a, b int) bool {
		oa, hasA := BootOrder(cfg.Containers[a])
		ob, hasB := BootOrder(cfg.Containers[b])
		switch {
		case hasA != hasB:
			return hasA
		case hasA && oa != ob:
			return oa < ob
		}
		return a < b
	}
	return topoOrderBy(deps, less)
}

// chosenAncestors are the chosen containers id depends on, directly or
// through others.
func chosenAncestors(deps map[int][]int, chosen map[int]bool, id int) []int {
	seen := map[int]bool{}
	var out []int
	stack := append([]int(nil), deps[id]...)
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[d] {
			continue
		}
		seen[d] = true
		if chosen[d] {
			out = append(out, d)
		}
		stack = append(stack, deps[d]...)
	}
	sort.Ints(out)
	if out == nil {
		out = []int{}
	}
	return out
}

func reversed(ids []int) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[len(ids)-1-i] = id
	}
	return out
}

// lifecycle is one invocation of a lifecycle verb: the run's shared state
// and one ctRun per container, kept across phases (a restart's stop, then
// start).
type lifecycle struct {
	*runner
	lo    LifecycleOptions
	runs  map[int]*ctRun
	start time.Time
}

func newLifecycle(o LifecycleOptions) (*lifecycle, error) {
	o.defaults()
	r, err := newRunner(RunOptions{Config: o.Config, Backend: o.Backend, DryRun: o.DryRun, Events: o.Events})
	if err != nil {
		return nil, err
	}
	return &lifecycle{runner: r, lo: o, runs: map[int]*ctRun{}, start: time.Now()}, nil
}

// ct returns id's ctRun, made on first use; a container starts done and
// a failed stage makes it failed.
func (l *lifecycle) ct(id int) *ctRun {
	c := l.runs[id]
	if c == nil {
		c = l.newCtRun(l.cfg.Containers[id])
		c.res.State = StageDone
		l.runs[id] = c
	}
	return c
}

// phase runs one stage on each container of order, skipping those that
// failed in an earlier phase.
func (l *lifecycle) phase(ctx context.Context, order []int, s Stage) {
	for _, id := range order {
		c := l.ct(id)
		if c.res.State == StageFailed {
			continue
		}
		if ctx.Err() != nil {
			c.interrupt(s.Name(c.ct))
			continue
		}
		c.runStage(ctx, s)
	}
}

// result gathers the containers in order, with their actions.
func (l *lifecycle) result(ctx context.Context, order []int, columns []string) *Result {
	res := &Result{DryRun: l.lo.DryRun, Columns: columns, Interrupted: ctx.Err() != nil}
	for _, id := range order {
		c := l.ct(id)
		c.res.Elapsed = 0 // its own stages' time, not the wait for the others'
		for _, s := range c.res.Stages {
			c.res.Elapsed += s.Elapsed
		}
		res.Containers = append(res.Containers, c.res)
	}
	l.attachActions(res)
	if n := len(res.Containers); n > 0 && allAlready(res) {
		res.Notes = append(res.Notes, fmt.Sprintf("nothing to do: all %d container(s) already as asked", n))
	}
	res.Elapsed = time.Since(l.start)
	return res
}

// allAlready reports whether no stage of res did anything.
func allAlready(res *Result) bool {
	for _, c := range res.Containers {
		for _, s := range c.Stages {
			if s.State != StageAlready {
				return false
			}
		}
	}
	return true
}
