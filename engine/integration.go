package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Integration tests (tests.integration_tests[] of v09) are run by
// `phoenix test` after a deployment, and by `run --with-tests` after its
// containers are built; never by a plain run. A test's path is relative to
// the tests dir (<hooks dir>/tests); the file is pushed into the container
// and run there (python3 for .py, else bash).

// StageTest labels the events of the integration tests of a run
// --with-tests (their actions, their outcome lines).
const StageTest = "test"

// TestOutcome is one integration test's result.
type TestOutcome struct {
	CTID int
	Test IntegrationTest
	Err  error // nil: passed, unless Planned or NotRun
	// Planned: a plan lists the test; it was not run.
	Planned bool
	// NotRun says why a run did not run the test (its container failed or
	// was skipped, the run was interrupted).
	NotRun string
}

// State is what a test's line starts with: ok, FAIL, skip or (a plan)
// test.
func (o TestOutcome) State() string {
	switch {
	case o.Planned:
		return "test"
	case o.NotRun != "":
		return "skip"
	case o.Err != nil:
		return "FAIL"
	}
	return "ok"
}

// Line is the test's line of WriteTests.
func (o TestOutcome) Line() string {
	return fmt.Sprintf("%-4s %d %s", o.State(), o.CTID, o.describe())
}

// describe is the test's name and file, then why it did not pass.
func (o TestOutcome) describe() string {
	s := o.Test.Name + " (" + o.Test.Path + ")"
	switch {
	case o.Planned:
		s += ": would run"
	case o.NotRun != "":
		s += ": not run: " + o.NotRun
	case o.Err != nil:
		s += ": " + o.Err.Error()
	}
	return s
}

// MarshalJSON is the test's record of --output json.
func (o TestOutcome) MarshalJSON() ([]byte, error) {
	state := map[string]string{"test": "planned", "skip": "skipped", "FAIL": "failed", "ok": "passed"}[o.State()]
	return json.Marshal(struct {
		CTID   int    `json:"ctid"`
		Name   string `json:"name"`
		Type   string `json:"type,omitempty"`
		Path   string `json:"path"`
		State  string `json:"state"`
		Reason string `json:"reason,omitempty"`
		Error  string `json:"error,omitempty"`
	}{o.CTID, o.Test.Name, o.Test.Type, o.Test.Path, state, o.NotRun, errString(o.Err)})
}

// WriteTests writes one line per test, then the counts: what `phoenix
// test` prints, and a run or plan --with-tests after its containers.
func WriteTests(w io.Writer, outcomes []TestOutcome) {
	var passed, failed, skipped, planned int
	for _, o := range outcomes {
		fmt.Fprintln(w, o.Line())
		switch o.State() {
		case "test":
			planned++
		case "skip":
			skipped++
		case "FAIL":
			failed++
		default:
			passed++
		}
	}
	if planned > 0 {
		fmt.Fprintf(w, "%d integration test(s) would run after the deployment", planned)
		if skipped > 0 {
			fmt.Fprintf(w, ", %d not", skipped)
		}
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "%d passed, %d failed", passed, failed)
	if skipped > 0 {
		fmt.Fprintf(w, ", %d not run", skipped)
	}
	fmt.Fprintln(w)
}

// TestsFailed reports whether a test of outcomes ran and failed.
func TestsFailed(outcomes []TestOutcome) bool {
	for _, o := range outcomes {
		if o.State() == "FAIL" {
			return true
		}
	}
	return false
}

// TestsDir is where integration test files are found.
func TestsDir(hooksDir string) string { return filepath.Join(hooksDir, "tests") }

// RunIntegrationTests runs the tests of the containers ctids (all when
// empty), in CTID order, each to its end.
func RunIntegrationTests(ctx context.Context, b Backend, cfg *Config, ctids []int, hooksDir string) []TestOutcome {
	if len(ctids) == 0 {
		for id := range cfg.Containers {
			ctids = append(ctids, id)
		}
	}
	sort.Ints(ctids)
	var out []TestOutcome
	for _, id := range ctids {
		ct := cfg.Containers[id]
		if ct == nil {
			continue
		}
		for _, t := range ct.Later.Tests {
			out = append(out, TestOutcome{CTID: id, Test: t, Err: runIntegrationTest(ctx, b, id, t, hooksDir)})
		}
	}
	return out
}

// integrationTests is the part of a run --with-tests after its
// containers: the tests of the requested ones, in plan order, run only
// for a container that ended done (a plan lists them instead), each
// reported as an event as it ends.
func (r *runner) integrationTests(ctx context.Context, plan *Plan, res *Result) []TestOutcome {
	var out []TestOutcome
	for _, cr := range res.Containers {
		if !plan.Requested[cr.CTID] {
			continue
		}
		for _, t := range r.cfg.Containers[cr.CTID].Later.Tests {
			o := TestOutcome{CTID: cr.CTID, Test: t}
			switch {
			case cr.State != StageDone:
				verb := map[bool]string{false: "failed", true: "fails"}[r.o.DryRun]
				if cr.State == StageSkipped {
					verb = "skipped"
				}
				o.NotRun = fmt.Sprintf("container %d %s", cr.CTID, verb)
			case ctx.Err() != nil:
				o.NotRun = "interrupted"
			case r.o.DryRun:
				o.Planned = true
			default:
				tctx := WithOrigin(ctx, Origin{CTID: cr.CTID, Stage: StageTest})
				o.Err = runIntegrationTest(tctx, r.b, cr.CTID, t, r.o.HooksDir)
			}
			r.testEvent(o)
			out = append(out, o)
		}
	}
	return out
}

// testEvent reports a test's outcome to the run's sinks (console, run
// log, JSON lines) as it ends.
func (r *runner) testEvent(o TestOutcome) {
	level, msg := "INFO", "integration test "+o.describe()
	switch o.State() {
	case "FAIL":
		level = "ERROR"
	case "skip":
		if !r.o.DryRun { // in a plan, one more line of the plan
			level = "WARN"
		}
	case "ok":
		msg += ": passed"
	}
	r.sink.Emit(Event{Time: time.Now(), Kind: EventLog, CTID: o.CTID, Stage: StageTest, Level: level, Message: msg})
}

func runIntegrationTest(ctx context.Context, b Backend, ctid int, t IntegrationTest, hooksDir string) error {
	if t.Type != "" && t.Type != "script" {
		return fmt.Errorf("test type %q: only \"script\" is run", t.Type)
	}
	rel := filepath.Clean("/" + t.Path)[1:] // never out of the tests dir
	file := filepath.Join(TestsDir(hooksDir), rel)
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read %s: %w (put the test under %s)", file, err, TestsDir(hooksDir))
	}
	dest := RunDir + "/tests/" + path.Base(rel)
	if r, err := b.Exec(ctx, ctid, []string{"mkdir", "-p", path.Dir(dest)}, ExecOptions{}); err != nil || r.Code != 0 {
		return fmt.Errorf("pct exec %d -- mkdir -p %s: %v (exit %d)", ctid, path.Dir(dest), err, r.Code)
	}
	if err := b.Push(ctx, ctid, dest, data, PushOptions{Perms: "0755"}); err != nil {
		return fmt.Errorf("pct push %d %s: %w", ctid, dest, err)
	}
	interp := "bash"
	if strings.HasSuffix(dest, ".py") {
		interp = "python3"
	}
	r, err := b.Exec(ctx, ctid, []string{interp, dest}, ExecOptions{})
	if err != nil {
		return fmt.Errorf("pct exec %d -- %s %s: %w", ctid, interp, dest, err)
	}
	if r.Code != 0 {
		// The last lines of what it printed, stderr last (stdout and
		// stderr glued together would run their two ends into one line).
		return fmt.Errorf("exit %d: %s", r.Code, tail(strings.TrimRight(r.Stdout, "\n")+"\n"+r.Stderr))
	}
	return nil
}
