package main

import (
	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/runlog"
)

// JSON records written after the events of a run (--output json): one per
// container in plan order ("plan" in dry-run, "result" otherwise), then one
// "summary". Durations are in milliseconds.
type jsonContainer struct {
	Kind      string         `json:"kind"`
	CTID      int            `json:"ctid"`
	Name      string         `json:"name,omitempty"`
	State     string         `json:"state"`
	Reason    string         `json:"reason,omitempty"`
	Error     string         `json:"error,omitempty"`
	ElapsedMS int64          `json:"elapsed_ms"`
	Stages    []jsonStage    `json:"stages"`
	Actions   []engine.Event `json:"actions"`
}

type jsonStage struct {
	Stage     string `json:"stage"`
	State     string `json:"state"`
	Detail    string `json:"detail,omitempty"`
	Error     string `json:"error,omitempty"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

type jsonSummary struct {
	Kind        string   `json:"kind"`
	DryRun      bool     `json:"dry_run"`
	Interrupted bool     `json:"interrupted"`
	ExitCode    int      `json:"exit_code"`
	ElapsedMS   int64    `json:"elapsed_ms"`
	Notes       []string `json:"notes,omitempty"`
	Done        int      `json:"done"`
	Failed      int      `json:"failed"`
	Skipped     int      `json:"skipped"`
}

func errText(err error, r *runlog.Redactor) string {
	if err == nil {
		return ""
	}
	return r.String(err.Error())
}

func writeJSONResult(j *runlog.JSON, res *engine.Result, r *runlog.Redactor) error {
	kind := "result"
	if res.DryRun {
		kind = "plan"
	}
	sum := jsonSummary{Kind: "summary", DryRun: res.DryRun, Interrupted: res.Interrupted, ExitCode: res.ExitCode(), ElapsedMS: res.Elapsed.Milliseconds()}
	sum.Done, sum.Failed, sum.Skipped = res.Counts()
	for _, n := range res.Notes {
		sum.Notes = append(sum.Notes, r.String(n))
	}
	for _, c := range res.Containers {
		jc := jsonContainer{
			Kind: kind, CTID: c.CTID, Name: c.Name, State: c.State, Reason: r.String(c.Reason),
			Error: errText(c.Err, r), ElapsedMS: c.Elapsed.Milliseconds(),
			Stages: []jsonStage{}, Actions: []engine.Event{},
		}
		for _, st := range c.Stages {
			jc.Stages = append(jc.Stages, jsonStage{Stage: st.Stage, State: st.State, Detail: r.String(st.Detail), Error: errText(st.Err, r), ElapsedMS: st.Elapsed.Milliseconds()})
		}
		for _, a := range c.Actions {
			jc.Actions = append(jc.Actions, r.Event(a))
		}
		if err := j.Write(jc); err != nil {
			return err
		}
	}
	return j.Write(sum)
}
