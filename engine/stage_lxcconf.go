package engine

import (
	"context"
	"fmt"
	"strings"
)

// StageLXCConf writes the raw LXC lines.
const StageLXCConf = "lxc-conf"

// lxcConfStage adds the raw lines pct cannot set to
// /etc/pve/lxc/<CTID>.conf: lxc_options (in Proxmox's "key: value" form),
// the AppArmor lines and the completed id maps. Lines already there are
// not added again; lines Phoenix did not ask for are left as they are.
// Reads: `pct config` (lxc.* keys); the status.
// Writes: the missing lines (AppendRaw); a restart when the container
// runs, since LXC reads them only at start.
var lxcConfStage = Stage{Key: StageLXCConf, Name: named(StageLXCConf), Applies: hasLXCLines, Run: (*ctRun).stageLXCConf}

func hasLXCLines(ct *Container) bool { return len(ct.Later.LXCLines) > 0 }

func (c *ctRun) stageLXCConf(ctx context.Context) (outcome, error) {
	ct := c.ct
	have, err := c.b.Config(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct config %d", ct.CTID)
	}
	present := map[string]bool{}
	for k, v := range have {
		if !strings.HasPrefix(k, "lxc.") {
			continue
		}
		for _, one := range strings.Split(v, "\n") {
			present[k+": "+strings.Join(strings.Fields(one), " ")] = true
		}
	}
	var missing []string
	for _, l := range ct.Later.LXCLines {
		if s := l.String(); !present[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return already("%d lxc lines present", len(ct.Later.LXCLines)), nil
	}
	if err := c.b.AppendRaw(ctx, ct.CTID, missing); err != nil {
		return outcome{}, fmt.Errorf("append lxc lines to /etc/pve/lxc/%d.conf: %w", ct.CTID, err)
	}
	detail := fmt.Sprintf("%d lxc lines added", len(missing))
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
