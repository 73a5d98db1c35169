package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// StageLXCConf writes the raw LXC lines.
const StageLXCConf = "lxc-conf"

// lxcConfStage brings the raw lines pct cannot set in
// /etc/pve/lxc/<CTID>.conf to what the config asks for: lxc_options (in
// Proxmox's "key: value" form), the AppArmor lines and the completed id
// maps. pve.MergeRaw decides, the same for every backend: a key Phoenix
// owns gets exactly the config's lines (lxc.idmap replaced as one set, a
// single value replaced), a shared key (lxc.mount.entry, ...) keeps the
// lines others wrote, and a line Phoenix wrote that the config no longer
// asks for is removed; what Phoenix wrote is recorded in the description.
// It runs when the config asks for lines, or when the container holds
// such a record (the config dropped them: they are removed).
// Reads: `pct config` (lxc.* keys, the description); the status.
// Writes: the edit (EditRaw); a restart when the container runs and its
// lines changed, since LXC reads them only at start.
var lxcConfStage = Stage{Key: StageLXCConf, Name: named(StageLXCConf), Applies: always, When: wantsLXCConf, Run: (*ctRun).stageLXCConf}

func hasLXCLines(ct *Container) bool { return len(ct.Later.LXCLines) > 0 }

// wantsLXCConf: the config asks for lines, or the container (existing,
// or as the plan has it) holds a record of lines Phoenix wrote.
func wantsLXCConf(c *ctRun, ctx context.Context) bool {
	if hasLXCLines(c.ct) {
		return true
	}
	have, err := c.b.Config(ctx, c.ct.CTID)
	return err != nil || pve.HasRawRecord(have["description"])
}

func (c *ctRun) stageLXCConf(ctx context.Context) (outcome, error) {
	ct := c.ct
	have, err := c.b.Config(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct config %d", ct.CTID)
	}
	edit := pve.MergeRaw(have, ct.Later.LXCLines)
	if edit.Empty() {
		return already("%d lxc lines present", len(ct.Later.LXCLines)), nil
	}
	if err := c.editRaw(ctx, edit); err != nil {
		return outcome{}, err
	}
	detail := describeRawEdit(edit)
	if len(edit.Changes) == 0 {
		return done("%s", detail), nil // the record only: LXC reads nothing new
	}
	st, err := c.b.Status(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct status %d", ct.CTID)
	}
	if st.Running {
		if err := c.restart(ctx); err != nil {
			return outcome{}, fmt.Errorf("restart after lxc lines changed: %w", err)
		}
		detail += "; restarted"
	}
	return done("%s", detail), nil
}

// editRaw makes edit: the lines in the configuration file (EditRaw), then
// the record in the description with its own `pct set`, which is how the
// pct backend writes it (pct keeps a description as Proxmox does: comment
// lines at the top). As a call of its own it is emitted, planned and
// recorded like any other: the plan lists the `pct set` the run sends.
func (c *ctRun) editRaw(ctx context.Context, edit RawEdit) error {
	id := c.ct.CTID
	lines := edit
	lines.Description, lines.DescriptionChanged = "", false
	if len(lines.Changes) > 0 {
		if err := c.b.EditRaw(ctx, id, lines); err != nil {
			return fmt.Errorf("edit lxc lines of /etc/pve/lxc/%d.conf: %w", id, err)
		}
	}
	if !edit.DescriptionChanged {
		return nil
	}
	var err error
	if edit.Description == "" {
		err = c.b.Set(ctx, id, nil, []string{"description"})
	} else {
		err = c.b.Set(ctx, id, []Option{{Key: "description", Value: edit.Description}}, nil)
	}
	if err != nil {
		return pctError(err, "pct set %d --description", id)
	}
	return nil
}

// describeRawEdit counts the lines added, changed and removed ("2 lxc
// lines added, 1 changed"), or says only the record changed. A key's
// line replaced by another (a new value) is one change, not an addition
// and a removal.
func describeRawEdit(e RawEdit) string {
	added, changed, removed := 0, 0, 0
	for _, ch := range e.Changes {
		a, r := 0, 0
		for _, v := range ch.New {
			if !containsLine(ch.Old, v) {
				a++
			}
		}
		for _, v := range ch.Old {
			if !containsLine(ch.New, v) {
				r++
			}
		}
		c := min(a, r)
		added, changed, removed = added+a-c, changed+c, removed+r-c
	}
	var parts []string
	for _, p := range []struct {
		n    int
		verb string
	}{{added, "added"}, {changed, "changed"}, {removed, "removed"}} {
		switch {
		case p.n == 0:
		case len(parts) == 0:
			parts = append(parts, fmt.Sprintf("%d lxc lines %s", p.n, p.verb))
		default:
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.verb))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "record of phoenix's lxc lines updated")
	}
	return strings.Join(parts, ", ")
}

func containsLine(vals []string, v string) bool {
	for _, x := range vals {
		if strings.Join(strings.Fields(x), " ") == strings.Join(strings.Fields(v), " ") {
			return true
		}
	}
	return false
}
