package engine

import (
	"fmt"
	"io"
	"strings"
)

// Plan markers: what a plan will do to a container.
const (
	MarkCreate    = "+" // created or cloned
	MarkChange    = "~" // exists; a stage acts on it (a set, an install, its hook)
	MarkUnchanged = "=" // matches the config: nothing to do
	MarkDrift     = "!" // asks for a change pct cannot make in place: the run fails it
	MarkFail      = "x" // a stage would fail for another reason
	MarkSkip      = "-" // skipped (depends on a container that fails, fail-fast, interrupted)
)

// StagePlanned is how a dry-run reports a stage or a container that a run
// would do: nothing was done.
const StagePlanned = "planned"

// Shown is the state as a person reads it: in a dry-run, StageDone is
// StagePlanned.
func Shown(state string, dryRun bool) string {
	if dryRun && state == StageDone {
		return StagePlanned
	}
	return state
}

// Marker is the container's plan marker (Mark*).
func (c *ContainerResult) Marker() string {
	switch {
	case len(c.Drift) > 0:
		return MarkDrift
	case c.State == StageFailed:
		return MarkFail
	case c.State == StageSkipped:
		return MarkSkip
	}
	acted := false
	for _, s := range c.Stages {
		if s.State != StageDone || isCheck(s.Stage) {
			continue
		}
		if s.Stage == StageCreate || s.Stage == StageClone {
			return MarkCreate
		}
		acted = true
	}
	if acted {
		return MarkChange
	}
	return MarkUnchanged
}

// isCheck: the stage reads, it does not change the container (a health
// check runs its command every run). A plan lists its actions, since the
// run makes them, but a check alone makes no change: the container stays
// "=" and a converged plan still says NoChanges.
func isCheck(stage string) bool { return stage == StageHealth }

// PlanCounts are the numbers of a plan's closing line.
type PlanCounts struct {
	Create, Change, Unchanged, Drift, Fail, Skip int
	Hooks                                        int // hook stages a run would run
	// Checks are the health checks a run would run and the integration
	// tests of --with-tests it lists: no changes.
	Checks int
}

// Counts of the plan, container by container.
func (r *Result) PlanCounts() PlanCounts {
	var n PlanCounts
	for _, c := range r.Containers {
		switch c.Marker() {
		case MarkCreate:
			n.Create++
		case MarkChange:
			n.Change++
		case MarkUnchanged:
			n.Unchanged++
		case MarkDrift:
			n.Drift++
		case MarkFail:
			n.Fail++
		case MarkSkip:
			n.Skip++
		}
		for _, s := range c.Stages {
			switch {
			case s.State != StageDone:
			case s.Stage == StageHook:
				n.Hooks++
			case isCheck(s.Stage):
				n.Checks++
			}
		}
	}
	if r.DryRun {
		n.Checks += len(r.Tests)
	}
	return n
}

// String is the closing line: "Plan: 2 to create, 1 to change, 3 hooks to
// run, 4 unchanged", then what cannot be done, when there is some.
func (n PlanCounts) String() string {
	hooks := "hooks"
	if n.Hooks == 1 {
		hooks = "hook"
	}
	s := fmt.Sprintf("Plan: %d to create, %d to change, %d %s to run, %d unchanged", n.Create, n.Change, n.Hooks, hooks, n.Unchanged)
	if n.Drift > 0 {
		s += fmt.Sprintf(", %d cannot change in place", n.Drift)
	}
	if n.Fail > 0 {
		s += fmt.Sprintf(", %d failing", n.Fail)
	}
	if n.Skip > 0 {
		s += fmt.Sprintf(", %d skipped", n.Skip)
	}
	if n.Checks > 0 {
		s += fmt.Sprintf(", %d %s to run", n.Checks, plural(n.Checks, "check", "checks"))
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// NoChanges is what a converged plan says.
const NoChanges = "No changes: the deployment matches the configuration."

// PlanOptions tune WritePlan.
type PlanOptions struct {
	// Verbose shows unchanged containers stage by stage, and the full text
	// of every script a stage runs (else its first line).
	Verbose bool
}

// WritePlan writes the dry-run plan: per container in dependency order,
// its marker, each stage and under it every action as the pct command it
// would run, with the hook line that asked for it; then the counts. An
// unchanged container is one line; a converged plan says NoChanges.
func WritePlan(w io.Writer, r *Result, o PlanOptions) {
	if r.DryRun {
		fmt.Fprintln(w, "Plan (dry-run: nothing is changed)")
	} else {
		fmt.Fprintln(w, "Actions")
	}
	n := r.PlanCounts()
	converged := n.Unchanged == len(r.Containers)
	// A lifecycle verb (own Columns) lists each container and says
	// "nothing to do" itself: NoChanges speaks of a run.
	if converged && !o.Verbose && r.Columns == nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, NoChanges)
		for _, c := range r.Containers {
			for _, warn := range c.Warnings {
				fmt.Fprintf(w, "%d %s: warning: %s\n", c.CTID, c.Name, warn)
			}
		}
		// The checks the run still makes: listed, since it makes them.
		for _, c := range r.Containers {
			if hasChecks(c) {
				fmt.Fprintln(w)
				writeContainerPlan(w, c, r.DryRun, o)
			}
		}
	} else {
		for _, c := range r.Containers {
			fmt.Fprintln(w)
			writeContainerPlan(w, c, r.DryRun, o)
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, note := range r.Notes {
		fmt.Fprintln(w, "note: "+note)
	}
	if len(r.Tests) > 0 && r.DryRun {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Integration tests (--with-tests), run after the deployment, not by a plan:")
		WriteTests(w, r.Tests)
	}
	if r.DryRun && (!converged || n.Checks > 0) && r.Columns == nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, n.String())
	}
}

// hasChecks: a check stage of c would run.
func hasChecks(c *ContainerResult) bool {
	for _, s := range c.Stages {
		if isCheck(s.Stage) && s.State == StageDone {
			return true
		}
	}
	return false
}

func writeContainerPlan(w io.Writer, c *ContainerResult, dryRun bool, o PlanOptions) {
	mark := c.Marker()
	head := fmt.Sprintf("%s %d %s", mark, c.CTID, c.Name)
	switch {
	case mark == MarkDrift:
		head += ": cannot change in place"
	case c.State == StageSkipped:
		head += ": skipped: " + c.Reason
	case c.State == StageFailed && c.Err != nil:
		head += ": failed: " + c.Err.Error()
	case c.Reason != "":
		head += ": " + c.Reason
	case mark == MarkUnchanged:
		head += ": unchanged"
	}
	fmt.Fprintln(w, head)
	for _, d := range c.Drift {
		fmt.Fprintln(w, "  ! "+d.Line(c.CTID))
	}
	for _, warn := range c.Warnings {
		fmt.Fprintln(w, "  warning: "+warn)
	}
	if mark == MarkUnchanged && !o.Verbose {
		writeChecks(w, c, dryRun, o)
		return
	}
	for _, note := range c.Notes {
		fmt.Fprintln(w, "  "+note)
	}
	byStage := map[string][]Event{}
	var other []Event
	known := map[string]bool{}
	for _, s := range c.Stages {
		known[s.Stage] = true
	}
	for _, a := range c.Actions {
		if known[a.Stage] {
			byStage[a.Stage] = append(byStage[a.Stage], a)
		} else {
			other = append(other, a)
		}
	}
	for _, s := range c.Stages {
		if mark == MarkDrift && s.State == StageFailed {
			continue // the drift lines above say it
		}
		fmt.Fprintln(w, "  "+s.Stage+": "+planState(s, dryRun))
		writeActions(w, "    ", byStage[s.Stage], o)
	}
	writeActions(w, "  ", other, o)
}

// writeChecks writes the check stages that would run on an unchanged
// container, with their actions: nothing else of it acts.
func writeChecks(w io.Writer, c *ContainerResult, dryRun bool, o PlanOptions) {
	for _, s := range c.Stages {
		if !isCheck(s.Stage) || s.State != StageDone {
			continue
		}
		fmt.Fprintln(w, "  "+s.Stage+": "+planState(s, dryRun))
		var actions []Event
		for _, a := range c.Actions {
			if a.Stage == s.Stage {
				actions = append(actions, a)
			}
		}
		writeActions(w, "    ", actions, o)
	}
}

func writeActions(w io.Writer, indent string, actions []Event, o PlanOptions) {
	for _, a := range actions {
		fmt.Fprintln(w, indent+FormatAction(a))
		if a.File != nil && a.File.Diff != "" {
			for _, l := range strings.Split(strings.TrimSuffix(a.File.Diff, "\n"), "\n") {
				fmt.Fprintln(w, strings.TrimRight(indent+"  "+l, " "))
			}
		}
		if !o.Verbose {
			continue
		}
		if script := multiLineScript(a.Argv); script != "" {
			for _, l := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
				fmt.Fprintln(w, strings.TrimRight(indent+"  | "+l, " "))
			}
		}
	}
}

// multiLineScript is the script of an `sh -c` action that spans lines, or "".
func multiLineScript(argv []string) string {
	for i := 0; i+2 < len(argv); i++ {
		if argv[i] == "sh" && argv[i+1] == "-c" && strings.Contains(argv[i+2], "\n") {
			return argv[i+2]
		}
	}
	return ""
}

func planState(s StageResult, dryRun bool) string {
	state := s.State
	switch {
	case s.State == StageAlready:
		state = "already done"
	case s.State == StageDone && dryRun:
		// Nothing was done: the stage's actions below are what a run would do.
		state = "would run"
	}
	if s.Detail != "" {
		return state + " (" + s.Detail + ")"
	}
	return state
}
