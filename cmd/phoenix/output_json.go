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
// otherwise; the fields of engine.ContainerResult), then one "summary".
func writeJSONResult(j *runlog.JSON, res *engine.Result, r *runlog.Redactor) error {
	kind := "result"
	if res.DryRun {
		kind = "plan"
	}
	for _, c := range res.Containers {
		if err := writeRecord(j, kind, c, r); err != nil {
			return err
		}
	}
	sum := jsonSummary{DryRun: res.DryRun, Interrupted: res.Interrupted, ExitCode: res.ExitCode(), Elapsed: res.Elapsed, Notes: res.Notes}
	sum.Done, sum.Failed, sum.Skipped = res.Counts()
	return writeRecord(j, "summary", sum, r)
}

type jsonSummary struct {
	DryRun      bool          `json:"dry_run"`
	Interrupted bool          `json:"interrupted"`
	ExitCode    int           `json:"exit_code"`
	Done        int           `json:"done"`
	Failed      int           `json:"failed"`
	Skipped     int           `json:"skipped"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Notes       []string      `json:"notes,omitempty"`
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
