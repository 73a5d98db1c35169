package engine

import (
	"container/heap"
	"context"
	"fmt"
	"time"
)

// schedule runs the plan: a container starts as soon as all it depends on
// is done (not level by level), at most Parallel at a time. Each container
// runs in one goroutine, its stages one after another, so no container
// ever has two operations at once. The loop below is the only place that
// reads or writes the scheduling state, so it needs no locks.
func (r *runner) schedule(ctx context.Context, plan *Plan) ([]*ContainerResult, []string) {
	n := len(plan.Order)
	pos := make(map[int]int, n)
	for i, id := range plan.Order {
		pos[id] = i
	}
	dependents := plan.Dependents()
	waiting := make(map[int]int, n)
	ready := &readyQueue{rank: chainLengths(plan, dependents)}
	for i, id := range plan.Order {
		waiting[id] = len(plan.Deps[id])
		if waiting[id] == 0 {
			ready.pos = append(ready.pos, i)
		}
	}
	heap.Init(ready)

	results := make(map[int]*ContainerResult, n)
	finished := make(chan *ContainerResult)
	running := 0
	var notes []string
	failFastNoted := false
	stopping := func() bool { return ctx.Err() != nil || r.stopped.Load() }

	for {
		for running < r.o.Parallel && ready.Len() > 0 && !stopping() {
			id := plan.Order[heap.Pop(ready).(int)]
			running++
			go func(ct *Container, requested bool) {
				finished <- r.runContainer(ctx, ct, requested)
			}(r.cfg.Containers[id], plan.Requested[id])
		}
		if running == 0 {
			break
		}
		cr := <-finished
		running--
		results[cr.CTID] = cr
		switch {
		case cr.State == StageDone:
			for _, d := range dependents[cr.CTID] {
				waiting[d]--
				if waiting[d] == 0 && results[d] == nil {
					heap.Push(ready, pos[d])
				}
			}
		case cr.State == StageFailed && ctx.Err() == nil:
			r.skipDependents(cr.CTID, dependents, results)
			if r.o.FailFast && !failFastNoted {
				failFastNoted = true
				r.stopped.Store(true)
				notes = append(notes, fmt.Sprintf("fail-fast: stopped after container %d failed", cr.CTID))
			}
		}
	}

	reason := "not run"
	switch {
	case ctx.Err() != nil:
		reason = "interrupted"
		notes = append(notes, "interrupted: containers not started were skipped")
	case r.stopped.Load():
		reason = "fail-fast"
	}
	out := make([]*ContainerResult, 0, n)
	for _, id := range plan.Order {
		cr := results[id]
		if cr == nil {
			cr = r.skip(id, reason)
		}
		out = append(out, cr)
	}
	return out, notes
}

// skipDependents marks everything that depends on failed, transitively,
// as skipped: "depends on <failed>".
func (r *runner) skipDependents(failed int, dependents map[int][]int, results map[int]*ContainerResult) {
	stack := append([]int(nil), dependents[failed]...)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if results[id] != nil {
			continue
		}
		results[id] = r.skip(id, fmt.Sprintf("depends on %d", failed))
		stack = append(stack, dependents[id]...)
	}
}

func (r *runner) skip(id int, reason string) *ContainerResult {
	ct := r.cfg.Containers[id]
	r.sink.Emit(Event{Time: time.Now(), Kind: EventLog, CTID: id, Level: "WARN", Message: "skipped: " + reason})
	return &ContainerResult{CTID: id, Name: ct.Hostname, State: StageSkipped, Reason: reason}
}

// chainLengths is, per plan position, the number of containers on the
// longest chain that starts there. When more containers are ready than
// --parallel allows, the one heading the longest chain goes first: the
// run cannot end before that chain does.
func chainLengths(plan *Plan, dependents map[int][]int) []int {
	pos := make(map[int]int, len(plan.Order))
	for i, id := range plan.Order {
		pos[id] = i
	}
	rank := make([]int, len(plan.Order))
	for i := len(plan.Order) - 1; i >= 0; i-- { // dependents come later
		longest := 0
		for _, d := range dependents[plan.Order[i]] {
			longest = max(longest, rank[pos[d]])
		}
		rank[i] = longest + 1
	}
	return rank
}

// readyQueue holds the plan positions of containers whose dependencies are
// done: the longest chain first, then plan order.
type readyQueue struct {
	pos  []int
	rank []int
}

func (q readyQueue) Len() int { return len(q.pos) }
func (q readyQueue) Less(i, j int) bool {
	a, b := q.pos[i], q.pos[j]
	if q.rank[a] != q.rank[b] {
		return q.rank[a] > q.rank[b]
	}
	return a < b
}
func (q readyQueue) Swap(i, j int) { q.pos[i], q.pos[j] = q.pos[j], q.pos[i] }
func (q *readyQueue) Push(x any)   { q.pos = append(q.pos, x.(int)) }
func (q *readyQueue) Pop() any {
	x := q.pos[len(q.pos)-1]
	q.pos = q.pos[:len(q.pos)-1]
	return x
}
