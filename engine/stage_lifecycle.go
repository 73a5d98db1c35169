package engine

import (
	"context"
	"fmt"
	"slices"
)

// Lifecycle snapshots (enable_lifecycle_snapshots): "pre-configured" once
// the container is made, configured and started, before anything is
// installed in it; "final-form" at the end. A template's final snapshot
// is its template snapshot (template_snapshot_name wins). Neither is ever
// taken again once it exists.
const (
	StagePreConfigured = "pre-configured"
	StageFinalForm     = "final-form"

	SnapshotPreConfigured = "pre-configured"
	SnapshotFinalForm     = "final-form"
)

// preConfiguredStage takes the "pre-configured" snapshot.
// Reads: the snapshot list. Writes: `pct snapshot CTID pre-configured`.
var preConfiguredStage = Stage{Key: StagePreConfigured, Name: named(StagePreConfigured), Applies: wantsLifecycle,
	Run: func(c *ctRun, ctx context.Context) (outcome, error) {
		return c.snapshotOnce(ctx, SnapshotPreConfigured)
	}}

// finalFormStage takes the "final-form" snapshot of a container that is
// not a template (a template's is the template stage's).
// Reads: the snapshot list. Writes: `pct snapshot CTID final-form`.
var finalFormStage = Stage{Key: StageFinalForm, Name: named(StageFinalForm),
	Applies: func(ct *Container) bool { return wantsLifecycle(ct) && !isTemplate(ct) },
	Run:     func(c *ctRun, ctx context.Context) (outcome, error) { return c.snapshotOnce(ctx, SnapshotFinalForm) }}

func wantsLifecycle(ct *Container) bool { return ct.Later.LifecycleSnapshots }

// snapshotOnce takes snapshot name unless the container has it.
func (c *ctRun) snapshotOnce(ctx context.Context, name string) (outcome, error) {
	ctid := c.ct.CTID
	snaps, err := c.b.ListSnapshots(ctx, ctid)
	if err != nil {
		return outcome{}, pctError(err, "pct listsnapshot %d", ctid)
	}
	if slices.Contains(snaps, name) {
		return already("snapshot %s exists", name), nil
	}
	if err := c.b.Snapshot(ctx, ctid, name); err != nil {
		return outcome{}, fmt.Errorf("pct snapshot %d %s: %w", ctid, name, err)
	}
	return done("snapshot %s taken", name), nil
}
