package engine

import (
	"context"
	"fmt"
	"slices"
)

// templateStage takes the template snapshot clones are made from.
// Reads: the snapshot list; the status.
// Writes: a shutdown (a consistent snapshot), `pct snapshot`, a start.
var templateStage = Stage{Key: StageTemplate, Name: named(StageTemplate), Applies: isTemplate, Run: (*ctRun).stageTemplate}

func templateSnapshot(ct *Container) string {
	if ct.TemplateSnapshot != "" {
		return ct.TemplateSnapshot
	}
	return defaultTemplateSnapshot
}

func (c *ctRun) stageTemplate(ctx context.Context) (outcome, error) {
	ctid := c.ct.CTID
	name := templateSnapshot(c.ct)
	snaps, err := c.b.ListSnapshots(ctx, ctid)
	if err != nil {
		return outcome{}, pctError(err, "pct listsnapshot %d", ctid)
	}
	if slices.Contains(snaps, name) {
		return already("snapshot %s exists", name), nil
	}
	st, err := c.b.Status(ctx, ctid)
	if err != nil {
		return outcome{}, pctError(err, "pct status %d", ctid)
	}
	// A snapshot of a stopped container is consistent: no half-written
	// files for the clones to inherit.
	if st.Running {
		if err := c.b.Shutdown(ctx, ctid, shutdownTimeout); err != nil {
			return outcome{}, pctError(err, "pct shutdown %d", ctid)
		}
	}
	if err := c.b.Snapshot(ctx, ctid, name); err != nil {
		return outcome{}, fmt.Errorf("pct snapshot %d %s: %w", ctid, name, err)
	}
	if err := c.start(ctx); err != nil {
		return outcome{}, err
	}
	return done("snapshot %s taken", name), nil
}
