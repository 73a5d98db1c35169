package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/runlog"
)

// writeJSONResult closes the event stream of --output json: one record
// per container in plan order (kind "plan" in dry-run, "result"
// otherwise; the fields of engine.ContainerResult, plus its plan marker in
// dry-run), then one "test" record per integration test of --with-tests,
// then one "summary". Nothing is "done" in a dry-run: what a run
// would do is "planned".
func writeJSONResult(j *runlog.JSON, res *engine.Result, r *runlog.Redactor) error {
	kind := "result"
	if res.DryRun {
		kind = "plan"
	}
	for _, c := range res.Containers {
		var rec any = c
		if res.DryRun {
			var err error
			if rec, err = planRecord(c); err != nil {
				return err
			}
		}
		if err := writeRecord(j, kind, rec, r); err != nil {
			return err
		}
	}
	// The integration tests of --with-tests: one "test" record each.
	for _, t := range res.Tests {
		if err := writeRecord(j, "test", t, r); err != nil {
			return err
		}
	}
	sum := jsonSummary{DryRun: res.DryRun, Interrupted: res.Interrupted, ExitCode: res.ExitCode(), Elapsed: res.Elapsed, Notes: res.Notes}
	done, failed, skipped := res.Counts()
	sum.Failed, sum.Skipped = failed, skipped
	if res.DryRun {
		n := res.PlanCounts()
		planned := n.Create + n.Change
		sum.Planned, sum.Plan = &planned, &jsonPlanCounts{
			Create: n.Create, Change: n.Change, Hooks: n.Hooks, Unchanged: n.Unchanged, Drift: n.Drift, Checks: n.Checks, Text: n.String(),
		}
	} else {
		sum.Done = &done
	}
	return writeRecord(j, "summary", sum, r)
}

// planRecord is a container's "plan" record: its states as a dry-run
// shows them, and its marker first.
func planRecord(c *engine.ContainerResult) (json.RawMessage, error) {
	cp := *c
	cp.State = engine.Shown(c.State, true)
	cp.Stages = make([]engine.StageResult, len(c.Stages))
	for i, s := range c.Stages {
		s.State = engine.Shown(s.State, true)
		cp.Stages[i] = s
	}
	b, err := json.Marshal(&cp)
	if err != nil || len(b) < 2 {
		return nil, fmt.Errorf("encode plan record of %d: %w", c.CTID, err)
	}
	return json.RawMessage(`{"marker":"` + c.Marker() + `",` + string(b[1:])), nil
}

type jsonSummary struct {
	DryRun      bool            `json:"dry_run"`
	Interrupted bool            `json:"interrupted"`
	ExitCode    int             `json:"exit_code"`
	Done        *int            `json:"done,omitempty"`    // a run
	Planned     *int            `json:"planned,omitempty"` // a dry-run
	Failed      int             `json:"failed"`
	Skipped     int             `json:"skipped"`
	Plan        *jsonPlanCounts `json:"plan,omitempty"`
	Elapsed     time.Duration   `json:"elapsed_ns"`
	Notes       []string        `json:"notes,omitempty"`
}

// jsonPlanCounts are the plan's closing line as numbers.
type jsonPlanCounts struct {
	Create    int    `json:"to_create"`
	Change    int    `json:"to_change"`
	Hooks     int    `json:"hooks_to_run"`
	Unchanged int    `json:"unchanged"`
	Drift     int    `json:"cannot_change_in_place"`
	Checks    int    `json:"checks_to_run"` // health checks, listed tests: no changes
	Text      string `json:"text"`
}

// plannedEvents shows a dry-run's stage events as planned, not done.
func plannedEvents(next engine.Sink) engine.Sink {
	return engine.SinkFunc(func(e engine.Event) {
		if e.Kind == engine.EventStage {
			e.State = engine.Shown(e.State, true)
		}
		next.Emit(e)
	})
}

// writeRecord writes v (a JSON object) with "kind" first, redacted.
func writeRecord(j *runlog.JSON, kind string, v any, r *runlog.Redactor) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", kind, err)
	}
	if len(b) < 2 || b[0] != '{' {
		return fmt.Errorf("encode %s record: not a JSON object", kind)
	}
	rest := string(b[1:])
	if rest != "}" {
		rest = "," + rest
	}
	return j.Write(json.RawMessage(r.String(`{"kind":"` + kind + `"` + rest)))
}
