package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// StageFirewall writes the container's firewall file.
const StageFirewall = "firewall"

// firewallStage writes /etc/pve/firewall/<CTID>.fw: [OPTIONS] enable and
// the container's rules as [RULES], other options and sections kept.
// firewall=1 on net0 is part of the desired net0 (create, configure).
// Reads: the firewall file (PVEFiles).
// Writes: the file, only when its content differs.
var firewallStage = Stage{Key: StageFirewall, Name: named(StageFirewall), Applies: hasFirewall, Run: (*ctRun).stageFirewall}

func hasFirewall(ct *Container) bool { return ct.Later.Firewall != nil }

func (c *ctRun) stageFirewall(ctx context.Context) (outcome, error) {
	ct := c.ct
	files, ok := pveFilesOf(c.b)
	if !ok {
		return skipped("the %s backend has no Proxmox firewall", c.b.Name()), nil
	}
	rel := pve.FirewallRel(ct.CTID)
	cur, err := files.ReadPVEFile(ctx, rel)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return outcome{}, fmt.Errorf("read the firewall file: %w", err)
	}
	fw := ct.Later.Firewall
	want := pve.ParseFirewall(string(cur)).WithRules(fw.Enabled, fw.Rules).Format()
	if want == string(cur) {
		return already("%d rules", len(fw.Rules)), nil
	}
	if err := files.WritePVEFile(ctx, ct.CTID, rel, []byte(want)); err != nil {
		return outcome{}, fmt.Errorf("write the firewall file: %w", err)
	}
	return done("/etc/pve/%s: %d rules", rel, len(fw.Rules)), nil
}
