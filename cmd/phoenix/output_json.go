package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/runlog"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
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
		var rec any = newContainerRecord(c)
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
	b, err := json.Marshal(newContainerRecord(&cp))
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

// fileEvent is the JSON record of what Phoenix does itself, outside pct:
// kind "file" (a file under /etc/pve edited or written: its path, the
// operation and the lines the plan shows) or "host" (a command on the
// host, such as a bind mount's mkdir), so that "action" is only ever a pct
// argv. Its fields otherwise are the action event's.
type fileEvent struct {
	Time   time.Time          `json:"time"`
	Kind   string             `json:"kind"`
	CTID   int                `json:"ctid,omitempty"`
	Stage  string             `json:"stage,omitempty"`
	Op     string             `json:"op"`
	Path   string             `json:"path,omitempty"`
	Lines  []string           `json:"lines,omitempty"`
	Source string             `json:"source,omitempty"`
	Note   string             `json:"note,omitempty"`
	File   *engine.FileChange `json:"file,omitempty"`
}

// jsonEvent is e as --output json writes it: the action of a
// pseudo-command (pve.CutPseudo) as its own kind (fileEvent), every other
// event as it is.
func jsonEvent(e engine.Event) any {
	if e.Kind == engine.EventAction {
		if p, ok := pve.CutPseudo(e.Argv); ok {
			return fileEvent{Time: e.Time, Kind: p.Kind, CTID: e.CTID, Stage: e.Stage, Op: p.Op, Path: p.Path, Lines: p.Lines,
				Source: e.Source, Note: e.Note, File: e.File}
		}
	}
	return e
}

// ownKinds writes events as jsonEvent has them. They reach it redacted.
func ownKinds(j *runlog.JSON) engine.Sink {
	return engine.SinkFunc(func(e engine.Event) { _ = j.Write(jsonEvent(e)) })
}

// containerRecord is a container's "plan" or "result" record, its
// actions as the event stream has them (jsonEvent).
type containerRecord struct {
	c       *engine.ContainerResult
	actions []any
}

func newContainerRecord(c *engine.ContainerResult) containerRecord {
	r := containerRecord{c: c, actions: make([]any, len(c.Actions))}
	for i, e := range c.Actions {
		r.actions[i] = jsonEvent(e)
	}
	return r
}

// MarshalJSON is the container's own record (engine.ContainerResult's,
// its fields in their order) with the actions put in.
func (r containerRecord) MarshalJSON() ([]byte, error) {
	cp := *r.c
	cp.Actions = nil
	b, err := json.Marshal(&cp)
	if err != nil {
		return nil, err
	}
	acts, err := json.Marshal(r.actions)
	if err != nil {
		return nil, err
	}
	// A key outside a string: its quotes are not escaped.
	return bytes.Replace(b, []byte(`"actions":null`), append([]byte(`"actions":`), acts...), 1), nil
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
