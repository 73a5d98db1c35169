package engine

import (
	"container/heap"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Plan is the order in which containers are provisioned.
type Plan struct {
	// Order is a topological order of the planned containers: every
	// container comes after what it depends on; ties go to the lower CTID.
	Order []int
	// Deps holds each planned container's direct dependencies (its clone
	// source and its dependencies), sorted.
	Deps map[int][]int
	// Requested marks the containers the user asked for; the others are in
	// the plan only because a requested one depends on them.
	Requested map[int]bool
}

// Dependents returns, for each planned container, the containers that
// depend on it directly, sorted.
func (p *Plan) Dependents() map[int][]int {
	out := make(map[int][]int, len(p.Order))
	for _, c := range p.Order {
		for _, d := range p.Deps[c] {
			out[d] = append(out[d], c)
		}
	}
	for _, v := range out {
		sort.Ints(v)
	}
	return out
}

// containerDeps is the container's clone source and its dependencies on
// other containers, deduplicated and sorted.
func containerDeps(ct *Container) []int {
	seen := map[int]bool{}
	var out []int
	add := func(d int) {
		if d != 0 && d != ct.CTID && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	add(ct.CloneFrom)
	for _, d := range ct.Dependencies {
		add(d)
	}
	sort.Ints(out)
	return out
}

// BuildPlan orders cfg's containers as a DAG. With ctids, the plan holds
// those containers plus everything they depend on, transitively; without,
// every container. A dependency cycle is an error that spells the cycle.
func BuildPlan(cfg *Config, ctids []int) (*Plan, error) {
	if cfg == nil {
		return nil, fmt.Errorf("build plan: no configuration")
	}
	p := &Plan{Deps: map[int][]int{}, Requested: map[int]bool{}}
	var roots []int
	if len(ctids) == 0 {
		for id := range cfg.Containers {
			roots = append(roots, id)
		}
	} else {
		for _, id := range ctids {
			if cfg.Containers[id] == nil {
				return nil, fmt.Errorf("build plan: container %d is not in lxc_configs: check --ctid against `phoenix hooks list`", id)
			}
			roots = append(roots, id)
		}
	}
	sort.Ints(roots)
	for _, id := range roots {
		p.Requested[id] = true
	}

	// Collect the closure of the roots over their dependencies.
	stack := append([]int(nil), roots...)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, done := p.Deps[id]; done {
			continue
		}
		ct := cfg.Containers[id]
		deps := containerDeps(ct)
		for _, d := range deps {
			if cfg.Containers[d] == nil {
				return nil, fmt.Errorf("build plan: container %d depends on %d, which is not in lxc_configs: add it or remove the reference", id, d)
			}
			stack = append(stack, d)
		}
		if deps == nil {
			deps = []int{}
		}
		p.Deps[id] = deps
	}

	order, err := topoOrder(p.Deps)
	if err != nil {
		return nil, fmt.Errorf("build plan: %w", err)
	}
	p.Order = order
	return p, nil
}

// topoOrder is Kahn's algorithm with a min-heap, so independent containers
// come in CTID order and the plan reads the same on every run.
func topoOrder(deps map[int][]int) ([]int, error) {
	return topoOrderBy(deps, func(a, b int) bool { return a < b })
}

// topoOrderBy is topoOrder with ties between independent containers
// broken by less instead of by CTID.
func topoOrderBy(deps map[int][]int, less func(a, b int) bool) ([]int, error) {
	indeg := make(map[int]int, len(deps))
	dependents := make(map[int][]int, len(deps))
	for id, ds := range deps {
		indeg[id] += 0
		for _, d := range ds {
			indeg[id]++
			dependents[d] = append(dependents[d], id)
		}
	}
	h := &intHeap{less: less}
	for id, n := range indeg {
		if n == 0 {
			h.ids = append(h.ids, id)
		}
	}
	heap.Init(h)
	order := make([]int, 0, len(deps))
	for h.Len() > 0 {
		id := heap.Pop(h).(int)
		order = append(order, id)
		for _, c := range dependents[id] {
			indeg[c]--
			if indeg[c] == 0 {
				heap.Push(h, c)
			}
		}
	}
	if len(order) != len(deps) {
		return nil, findCycle(deps, indeg)
	}
	return order, nil
}

// findCycle walks the containers left with unmet dependencies and returns
// the first cycle found as an error: "dependency cycle: 901 -> 902 -> 901".
func findCycle(deps map[int][]int, indeg map[int]int) error {
	var left []int
	for id, n := range indeg {
		if n > 0 {
			left = append(left, id)
		}
	}
	sort.Ints(left)
	const (
		unvisited = iota
		onPath
		finished
	)
	state := map[int]int{}
	var path []int
	var cycle []int
	var visit func(id int) bool
	visit = func(id int) bool {
		state[id] = onPath
		path = append(path, id)
		for _, d := range deps[id] {
			switch state[d] {
			case onPath:
				i := len(path) - 1
				for path[i] != d {
					i--
				}
				cycle = append(append([]int(nil), path[i:]...), d)
				return true
			case unvisited:
				if visit(d) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		state[id] = finished
		return false
	}
	for _, id := range left {
		if state[id] == unvisited && visit(id) {
			break
		}
	}
	parts := make([]string, len(cycle))
	for i, id := range cycle {
		parts[i] = strconv.Itoa(id)
	}
	return fmt.Errorf("dependency cycle: %s: break it in clone_from_ctid / clone_from_template_ctid / dependencies", strings.Join(parts, " -> "))
}

type intHeap struct {
	ids  []int
	less func(a, b int) bool
}

func (h *intHeap) Len() int           { return len(h.ids) }
func (h *intHeap) Less(i, j int) bool { return h.less(h.ids[i], h.ids[j]) }
func (h *intHeap) Swap(i, j int)      { h.ids[i], h.ids[j] = h.ids[j], h.ids[i] }
func (h *intHeap) Push(x any)         { h.ids = append(h.ids, x.(int)) }
func (h *intHeap) Pop() any {
	x := h.ids[len(h.ids)-1]
	h.ids = h.ids[:len(h.ids)-1]
	return x
}
