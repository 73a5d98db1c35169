package engine

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// TemplateMarker is where a template remembers what its snapshot was taken
// from: the HookFingerprint (its hook, its config entry, the values its
// hook gets) at the time, written just before the snapshot. The snapshot
// holds it, and so does the container, until the next refresh rewrites it.
func TemplateMarker(ctid int) string {
	return path.Join(path.Dir(HookMarker(ctid)), "template-"+strconv.Itoa(ctid)+".sha256")
}

// snapshotStale says why the existing template snapshot no longer matches
// the container, or "" when it does (or nothing tells: a snapshot taken
// before the marker existed is stale only for --refresh-templates).
//
// A stage of this run that acted (configure, nvidia, docker, hook) changed
// the container after its snapshot: the plan knows that without reading
// the marker, so plan and run agree on it. Not so for the stages that go
// by what is inside (nvidia, docker, hook) in a container the plan could
// not look into (stopped on the host): their actions are guesses (a hook
// "runs" because its marker could not be read) that the run may find
// done, so the plan goes by the marker as the run will. configure goes by
// the Proxmox config, which the plan reads.
func (c *ctRun) snapshotStale(ctx context.Context, want string) (string, error) {
	var acted []string
	blind := c.blind()
	for _, s := range c.res.Stages {
		switch s.Stage {
		case StageNvidia, StageDocker, StageHook:
			if blind {
				continue
			}
			fallthrough
		case StageConfigure:
			if s.State == StageDone {
				acted = append(acted, s.Stage)
			}
		}
	}
	if len(acted) > 0 {
		return strings.Join(acted, ", ") + " changed the container after it was taken", nil
	}
	r, err := c.probe(ctx, "cat", TemplateMarker(c.ct.CTID))
	switch {
	case err != nil:
		return "", err
	case r.Code == 0 && strings.TrimSpace(r.Stdout) == want:
		return "", nil
	case r.Code == 0:
		return markerChanged(c.ct.CTID), nil
	case c.o.RefreshTemplates:
		return "nothing records what it was taken from", nil
	}
	return "", nil
}

// markerChanged is why a snapshot whose marker is not what would be
// written now is stale (the run's warning and status say it alike).
func markerChanged(ctid int) string {
	return "the config entry or hook of " + strconv.Itoa(ctid) + " changed since it was taken"
}

// staleAdvice is what to do about a stale snapshot.
const staleAdvice = "`phoenix run --refresh-templates` re-takes it (existing clones are left alone)"

// blind reports whether the plan could not look inside the container
// (engine.BlindSpots): what it plans there is known after run.
func (c *ctRun) blind() bool {
	bs, ok := c.b.(BlindSpots)
	return ok && bs.Blind(c.ct.CTID)
}

// madeFrom lists the config's existing clones of this template.
func (c *ctRun) madeFrom(ctx context.Context) []int {
	var ids []int
	for id, ct := range c.cfg.Containers {
		if ct.CloneFrom != c.ct.CTID {
			continue
		}
		if st, err := c.b.Status(ctx, id); err == nil && st.Exists {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	return ids
}

func joinIDs(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, ", ")
}

// staleWarning says what a stale snapshot means and what to do.
func (c *ctRun) staleWarning(ctx context.Context, name, why string) string {
	w := fmt.Sprintf("snapshot %s is stale: %s", name, why)
	if ids := c.madeFrom(ctx); len(ids) > 0 {
		w += "; clones made from it miss the change: " + joinIDs(ids)
	}
	return w + "; " + staleAdvice
}

// refreshedDetail is the template stage's detail after a refresh.
func (c *ctRun) refreshedDetail(ctx context.Context, name, why string) string {
	d := fmt.Sprintf("snapshot %s re-taken: %s", name, why)
	if ids := c.madeFrom(ctx); len(ids) > 0 {
		d += fmt.Sprintf("; existing clones %s are left alone (destroy and run them to rebuild from it)", joinIDs(ids))
	}
	return d
}

// deleteSnapshot deletes the old template snapshot before it is re-taken
// under the same name, which the clones' config entries name. Phoenix's
// templates are snapshots of ordinary containers, whose clones are full
// copies: nothing depends on the old snapshot, so pct delsnapshot works.
func (c *ctRun) deleteSnapshot(ctx context.Context, name string) error {
	d, ok := c.b.(SnapshotDeleter)
	if !ok {
		return fmt.Errorf("pct delsnapshot %d %s: the %s backend cannot delete a snapshot: delete it by hand, then run again", c.ct.CTID, name, c.b.Name())
	}
	if err := d.DeleteSnapshot(ctx, c.ct.CTID, name); err != nil {
		return pctError(err, "pct delsnapshot %d %s", c.ct.CTID, name)
	}
	return nil
}

// warn keeps a warning for the plan and the summary, and logs it: as a
// warning in a run; in a dry-run the plan says it (the log still has it).
func (c *ctRun) warn(msg string) {
	c.res.Warnings = append(c.res.Warnings, msg)
	level := "WARN"
	if c.o.DryRun {
		level = "INFO"
	}
	c.log(level, msg)
}
