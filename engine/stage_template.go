package engine

import (
	"context"
	"fmt"
	"slices"
)

// templateStage takes the template snapshot clones are made from, and
// re-takes a stale one with --refresh-templates (template_stale.go).
// Reads: the snapshot list; the status; the marker TemplateMarker (a
// probe: cat); the states of this container's earlier stages.
// Writes: the marker, a shutdown (a consistent snapshot), `pct delsnapshot`
// (refresh only), `pct snapshot`, a start.
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
	want := HookFingerprint(c.cfg, c.ct, c.hook.Digest)
	why := ""
	if slices.Contains(snaps, name) {
		if why, err = c.snapshotStale(ctx, want); err != nil || why == "" {
			return already("snapshot %s exists", name), err
		}
		if !c.o.RefreshTemplates {
			c.warn(c.staleWarning(ctx, name, why))
			return already("snapshot %s exists, stale", name), nil
		}
	}
	if err := c.writeMarker(ctx, TemplateMarker(ctid), want); err != nil {
		return outcome{}, err
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
	if why != "" {
		if err := c.deleteSnapshot(ctx, name); err != nil {
			return outcome{}, err
		}
	}
	if err := c.b.Snapshot(ctx, ctid, name); err != nil {
		return outcome{}, fmt.Errorf("pct snapshot %d %s: %w", ctid, name, err)
	}
	if err := c.start(ctx); err != nil {
		return outcome{}, err
	}
	if why != "" {
		return done("%s", c.refreshedDetail(ctx, name, why)), nil
	}
	return done("snapshot %s taken", name), nil
}
