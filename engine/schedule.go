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
	ready := &intHeap{} // plan positions, so ties go the plan's way
	for i, id := range plan.Order {
		waiting[id] = len(plan.Deps[id])
		if waiting[id] == 0 {
			*ready = append(*ready, i)
		}
	}
	heap.Init(ready)

	results := make(map[int]*ContainerResult, n)
	finished := make(chan *ContainerResult)
	running := 0
	var notes []string
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
			if r.o.FailFast && !r.stopped.Swap(true) {
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
