package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Result is what a run did, container by container. It marshals to JSON
// for --output json (errors as strings, durations in nanoseconds).
type Result struct {
	DryRun      bool               `json:"dry_run"`
	Interrupted bool               `json:"interrupted"`
	Containers  []*ContainerResult `json:"containers"`      // plan order
	Notes       []string           `json:"notes,omitempty"` // run-wide remarks (fail-fast, interrupted)
	Elapsed     time.Duration      `json:"elapsed_ns"`
	// Tests are the integration tests of a run --with-tests, in plan
	// order: run, listed (a plan) or not run.
	Tests []TestOutcome `json:"tests,omitempty"`
	// Columns are the summary's stage columns; nil: StageColumns (a run).
	// The lifecycle verbs have their own (stop, start, destroy).
	Columns []string `json:"-"`
}

// ContainerResult is one container's part of a run.
type ContainerResult struct {
	CTID   int           `json:"ctid"`
	Name   string        `json:"name"`
	State  string        `json:"state"`            // StageDone, StageFailed, StageSkipped
	Reason string        `json:"reason,omitempty"` // why skipped ("depends on 901", "fail-fast", "interrupted") or "built: not requested"
	Stages []StageResult `json:"stages"`
	// Actions are the EventAction events of this container, in order: the
	// built-in stages' and the hook's calls.
	Actions []Event       `json:"actions"`
	Err     error         `json:"-"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Notes are remarks for the plan, like "feature traefik: no built-in
	// stage and no feature hook".
	Notes []string `json:"notes,omitempty"`
	// Drift lists what differs from the config that pct cannot change in
	// place (engine/drift.go): the container failed because of it.
	Drift []Drift `json:"drift,omitempty"`
	// Warnings are what a person must read even in a converged plan (a
	// template snapshot older than its config).
	Warnings []string `json:"warnings,omitempty"`
}

// StageResult is one stage of one container.
type StageResult struct {
	Stage   string        `json:"stage"` // create, clone, configure, start, nvidia, docker, hook, template
	State   string        `json:"state"` // StageDone, StageAlready, StageSkipped, StageFailed
	Detail  string        `json:"detail,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Err     error         `json:"-"`
}

// MarshalJSON adds the error as a string.
func (c *ContainerResult) MarshalJSON() ([]byte, error) {
	type plain ContainerResult
	return json.Marshal(struct {
		*plain
		Error string `json:"error,omitempty"`
	}{(*plain)(c), errString(c.Err)})
}

// MarshalJSON adds the error as a string.
func (s StageResult) MarshalJSON() ([]byte, error) {
	type plain StageResult
	return json.Marshal(struct {
		plain
		Error string `json:"error,omitempty"`
	}{plain(s), errString(s.Err)})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ExitCode is the process exit code for the run: 130 when interrupted, 1
// when a container did not end done or an integration test failed, else 0.
func (r *Result) ExitCode() int {
	if r.Interrupted {
		return ExitInterrupted
	}
	for _, c := range r.Containers {
		if c.State != StageDone {
			return ExitFailed
		}
	}
	if TestsFailed(r.Tests) {
		return ExitFailed
	}
	return ExitOK
}

// Counts returns how many containers ended done, failed and skipped.
func (r *Result) Counts() (done, failed, skipped int) {
	for _, c := range r.Containers {
		switch c.State {
		case StageDone:
			done++
		case StageFailed:
			failed++
		default:
			skipped++
		}
	}
	return done, failed, skipped
}

// stageColumn maps a stage to its summary column.
func stageColumn(stage string) string {
	if stage == StageClone {
		return StageCreate
	}
	return stage
}

// cell is what the summary shows for a stage state; in a dry-run what a
// run would do is "planned".
func cell(state string, dryRun bool) string {
	switch state {
	case StageDone:
		return Shown(StageDone, dryRun)
	case StageAlready:
		return "already"
	case StageSkipped:
		return "skipped"
	case StageFailed:
		return "FAILED"
	}
	return "-"
}

const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

func colorOf(text string) string {
	switch text {
	case "done", "built":
		return ansiGreen
	case "FAILED", "failed", "missing":
		return ansiRed
	case "skipped", "drifted":
		return ansiYellow
	case "already", "-":
		return ansiDim
	}
	return ""
}

// summaryColumns are StageColumns with the later-era columns some
// container of r ran, each after its anchor.
func summaryColumns(r *Result) []string {
	ran := map[string]bool{}
	for _, c := range r.Containers {
		for _, s := range c.Stages {
			ran[s.Stage] = true
		}
	}
	var out []string
	for _, col := range StageColumns {
		out = append(out, col)
		for _, l := range LaterColumns[col] {
			if ran[l] {
				out = append(out, l)
			}
		}
	}
	return out
}

// WriteSummary writes the table that closes every run: one row per
// container, one column per stage, then the errors of failed containers,
// the reasons of skipped ones and the warnings of stages.
func WriteSummary(w io.Writer, r *Result, color bool) {
	columns := r.Columns
	if columns == nil {
		columns = summaryColumns(r)
	}
	header := append([]string{"CTID", "NAME"}, columns...)
	header = append(header, "RESULT", "TIME")
	rows := [][]string{header}
	for _, c := range r.Containers {
		row := []string{strconv.Itoa(c.CTID), c.Name}
		byCol := map[string]string{}
		for _, s := range c.Stages {
			byCol[stageColumn(s.Stage)] = cell(s.State, r.DryRun)
		}
		for _, col := range columns {
			v := byCol[col]
			if v == "" {
				v = "-"
			}
			row = append(row, v)
		}
		result := Shown(c.State, r.DryRun)
		// A container that had nothing to do reads the same in the plan
		// and in the run.
		if c.Marker() == MarkUnchanged {
			result = "unchanged"
		}
		if result == StageFailed {
			result = "failed"
		}
		if c.Reason != "" {
			result += " (" + c.Reason + ")"
		}
		row = append(row, result, fmtDuration(c.Elapsed))
		rows = append(rows, row)
	}
	writeTable(w, rows, color)

	var below []string
	for _, c := range r.Containers {
		switch {
		case c.State == StageFailed && c.Err != nil:
			below = append(below, fmt.Sprintf("%d %s: failed: %v", c.CTID, c.Name, c.Err))
		case c.State == StageSkipped && c.Reason != "":
			below = append(below, fmt.Sprintf("%d %s: skipped: %s", c.CTID, c.Name, c.Reason))
		}
		if !r.DryRun { // a dry-run's plan just said them
			for _, w := range c.Warnings {
				below = append(below, fmt.Sprintf("%d %s: warning: %s", c.CTID, c.Name, w))
			}
		}
		for _, s := range c.Stages {
			if s.State == StageSkipped && s.Detail != "" && s.Detail != "no hook" {
				below = append(below, fmt.Sprintf("%d %s: %s skipped: %s", c.CTID, c.Name, s.Stage, s.Detail))
			}
		}
	}
	if len(below) > 0 {
		fmt.Fprintln(w)
		for _, l := range below {
			fmt.Fprintln(w, l)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	if len(r.Tests) > 0 && !r.DryRun { // a dry-run's plan just listed them
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Integration tests (--with-tests):")
		WriteTests(w, r.Tests)
	}
	d, f, s := r.Counts()
	line := fmt.Sprintf("%d done, %d failed, %d skipped in %s", d, f, s, fmtDuration(r.Elapsed))
	if r.DryRun {
		n := r.PlanCounts()
		line = fmt.Sprintf("%d planned, %d unchanged, %d failed, %d skipped in %s", n.Create+n.Change, n.Unchanged, f, s, fmtDuration(r.Elapsed))
	}
	if r.DryRun {
		line += " (dry-run: nothing was changed)"
	}
	if r.Interrupted {
		line += " (interrupted)"
	}
	fmt.Fprintln(w, line)
}

// writeTable pads columns by rune count, then colours cells, so ANSI codes
// do not upset the alignment.
func writeTable(w io.Writer, rows [][]string, color bool) {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, v := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(v))
		}
	}
	for ri, row := range rows {
		var b strings.Builder
		for i, v := range row {
			pad := widths[i] - utf8.RuneCountInString(v)
			if color && ri > 0 && i >= 2 {
				first, _, _ := strings.Cut(v, " ")
				if code := colorOf(first); code != "" {
					v = code + v + ansiReset
				}
			}
			b.WriteString(v)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", pad+2))
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// proxmoxTools are the commands besides pct that shell hooks may call; their
// recorded actions carry the tool name as argv[0].
var proxmoxTools = map[string]bool{"qm": true, "pvesm": true, "pveam": true, "pvesh": true, "zfs": true, "zpool": true}

// FormatAction renders a recorded action as a command line: `pct ...`, a
// Proxmox tool, or the raw lines appended to a container's config; a long
// shell script shows its first line. The hook line that asked follows
// after "#".
func FormatAction(e Event) string {
	argv := e.Argv
	var s string
	switch {
	case len(argv) > 0 && strings.HasPrefix(argv[0], "# ") && e.File != nil && e.File.Diff != "":
		// The diff under the line says what changes: not the whole file.
		s = strings.TrimSuffix(argv[0][2:], ":")
	case len(argv) > 0 && strings.HasPrefix(argv[0], "# "):
		s = argv[0][2:] + " " + strings.Join(argv[1:], " | ")
	case len(argv) > 0 && proxmoxTools[argv[0]]:
		s = fmtArgv(argv)
	default:
		s = FormatArgv(shortScripts(argv))
	}
	if e.Source != "" {
		s += "    # " + e.Source
	}
	var notes []string
	for _, n := range []string{e.File.Summary(), e.Note} {
		if n != "" {
			notes = append(notes, n)
		}
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s
}

// shortScripts replaces a multi-line `sh -c` script by its first line and
// a count of the rest, so a plan stays readable.
func shortScripts(argv []string) []string {
	out := argv
	for i := 0; i+2 < len(argv); i++ {
		if argv[i] == "sh" && argv[i+1] == "-c" && strings.Contains(argv[i+2], "\n") {
			script := strings.TrimRight(argv[i+2], "\n")
			first, rest, _ := strings.Cut(script, "\n")
			out = append([]string(nil), argv...)
			more := strings.Count(rest, "\n") + 1
			unit := "lines"
			if more == 1 {
				unit = "line"
			}
			out[i+2] = fmt.Sprintf("%s …(+%d %s)", first, more, unit)
			break
		}
	}
	return out
}
