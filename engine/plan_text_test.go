package engine_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

func stage(name, state, detail string) engine.StageResult {
	return engine.StageResult{Stage: name, State: state, Detail: detail}
}

func TestMarkerSaysWhatThePlanDoesToTheContainer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    engine.ContainerResult
		want string
	}{
		{engine.ContainerResult{State: engine.StageDone, Stages: []engine.StageResult{stage("clone", engine.StageDone, ""), stage("hook", engine.StageDone, "")}}, "+"},
		{engine.ContainerResult{State: engine.StageDone, Stages: []engine.StageResult{stage("create", engine.StageAlready, ""), stage("configure", engine.StageDone, "")}}, "~"},
		{engine.ContainerResult{State: engine.StageDone, Stages: []engine.StageResult{stage("create", engine.StageAlready, ""), stage("hook", engine.StageSkipped, "no hook")}}, "="},
		{engine.ContainerResult{State: engine.StageDone, Reason: "built: not requested"}, "="},
		{engine.ContainerResult{State: engine.StageFailed, Drift: []engine.Drift{{Key: "unprivileged"}}}, "!"},
		{engine.ContainerResult{State: engine.StageFailed}, "x"},
		{engine.ContainerResult{State: engine.StageSkipped, Reason: "depends on 900"}, "-"},
	} {
		assert.Equal(t, tc.want, tc.c.Marker(), "%+v", tc.c)
	}
}

func TestPlanCountsLine(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "Plan: 2 to create, 1 to change, 3 hooks to run, 4 unchanged",
		engine.PlanCounts{Create: 2, Change: 1, Hooks: 3, Unchanged: 4}.String())
	assert.Equal(t, "Plan: 0 to create, 0 to change, 1 hook to run, 0 unchanged, 1 cannot change in place, 2 skipped",
		engine.PlanCounts{Hooks: 1, Drift: 1, Skip: 2}.String())
}

// driftPlan: 900 unchanged, 910 memory change and its hook, 920 drift, 950 skipped behind it.
func driftPlan() *engine.Result {
	d := engine.Drift{Key: "unprivileged", Host: "1", Want: "0", Why: "fixed when made", Back: "true"}
	return &engine.Result{DryRun: true, Containers: []*engine.ContainerResult{
		{CTID: 900, Name: "base", State: engine.StageDone, Stages: []engine.StageResult{stage("create", engine.StageAlready, "exists: skip")}},
		{CTID: 910, Name: "app", State: engine.StageDone,
			Stages: []engine.StageResult{stage("clone", engine.StageAlready, "exists: skip"), stage("configure", engine.StageDone, "memory 2048 → 4096"),
				stage("hook", engine.StageDone, "h.lua ran")},
			Actions: []engine.Event{{Kind: engine.EventAction, Stage: "configure", Argv: []string{"set", "910", "--memory", "4096"}},
				{Kind: engine.EventAction, Stage: "hook", Argv: []string{"exec", "910", "--", "sh", "-c", "set -eu\necho one\necho two\n"}}}},
		{CTID: 920, Name: "gpu", State: engine.StageFailed, Drift: []engine.Drift{d},
			Stages: []engine.StageResult{stage("clone", engine.StageAlready, "exists: skip"), stage("configure", engine.StageFailed, "cannot change in place: ...")}},
		{CTID: 950, Name: "llm", State: engine.StageSkipped, Reason: "depends on 920"},
	}}
}

func TestWritePlanMarksEachContainerAndCounts(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	engine.WritePlan(&b, driftPlan(), engine.PlanOptions{})
	out := b.String()
	assert.Contains(t, out, "\n= 900 base: unchanged\n\n~ 910 app\n  clone: already done (exists: skip)\n  configure: would run (memory 2048 → 4096)\n    pct set 910 --memory 4096\n")
	assert.Contains(t, out, "\n! 920 gpu: cannot change in place\n  ! unprivileged 1 → 0 (fixed when made): to apply it, `phoenix destroy --ctid 920` then `phoenix run --ctid 920`, or set unprivileged back to true in the config\n  clone: already done (exists: skip)\n\n")
	assert.NotContains(t, out, "configure: failed", "the drift line says it once")
	assert.Contains(t, out, "\n- 950 llm: skipped: depends on 920\n")
	assert.Contains(t, out, "sh -c 'set -eu …(+2 lines)'\n")
	assert.NotContains(t, out, "echo two", "without -v a script shows its first line")
	assert.True(t, strings.HasSuffix(out, "\nPlan: 0 to create, 1 to change, 1 hook to run, 1 unchanged, 1 cannot change in place, 1 skipped\n"), out)
}

func TestWritePlanVerboseShowsTheWholeScript(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	engine.WritePlan(&b, driftPlan(), engine.PlanOptions{Verbose: true})
	out := b.String()
	assert.Contains(t, out, "sh -c 'set -eu …(+2 lines)'\n      | set -eu\n      | echo one\n      | echo two\n")
	assert.Contains(t, out, "= 900 base: unchanged\n  create: already done (exists: skip)\n", "-v lists an unchanged container's stages")
}

func TestConvergedPlanSaysNoChanges(t *testing.T) {
	t.Parallel()
	r := driftPlan()
	r.Containers = r.Containers[:1]
	r.Containers[0].Warnings = []string{"snapshot base is stale"}
	var b strings.Builder
	engine.WritePlan(&b, r, engine.PlanOptions{})
	assert.Equal(t, "Plan (dry-run: nothing is changed)\n\nNo changes: the deployment matches the configuration.\n900 base: warning: snapshot base is stale\n", b.String())
}

func TestDryRunSummarySaysPlanned(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	engine.WriteSummary(&b, driftPlan(), false)
	out := b.String()
	assert.NotContains(t, out, "done")
	assert.Contains(t, out, "planned")
	assert.Contains(t, out, "1 planned, 1 unchanged, 1 failed, 1 skipped in")
}
