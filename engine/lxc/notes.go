package lxc

import (
	"fmt"
	"sort"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// PlanNotes says, per container of cfg, what this backend will do
// differently from Proxmox: no network (and why), no GPU, no firewall,
// no storage volumes, AppArmor lines on a host without AppArmor, a
// template that is not a local rootfs. The CLI adds them to
// the plan and the summary, so a dry-run tells before a run does.
func (b *Backend) PlanNotes(cfg *engine.Config) []string {
	ids := make([]int, 0, len(cfg.Containers))
	for id := range cfg.Containers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var out []string
	for _, id := range ids {
		for _, n := range b.containerNotes(cfg.Containers[id]) {
			out = append(out, fmt.Sprintf("CT %d: %s", id, n))
		}
	}
	return out
}

// PlanNotesFor is PlanNotes where LXC's tools may not be installed (a
// dry-run on a machine without LXC): what the backend would do
// differently, from the host's bridges and o alone.
func PlanNotesFor(o Options, cfg *engine.Config) ([]string, error) {
	b, err := newBackend(o)
	if err != nil {
		return nil, err
	}
	return b.PlanNotes(cfg), nil
}

func (b *Backend) containerNotes(ct *engine.Container) []string {
	var out []string
	if ct.Net != nil {
		c := parseConf("")
		if n := applyNet0(c, "bridge="+ct.Net.Bridge, b.host); n != "" {
			out = append(out, n)
		}
	}
	if ct.HasGPU() {
		out = append(out, "nvidia stage skipped: no GPU on this backend")
	}
	if ct.Later.Firewall != nil {
		out = append(out, "firewall skipped: no Proxmox firewall on this backend")
	}
	if len(ct.Later.Volumes) > 0 {
		out = append(out, "zfs_volumes are recorded, not created: no Proxmox storage on this backend")
	}
	if hasAppArmorLine(ct) && !b.host.apparmor {
		out = append(out, "AppArmor is not enabled on this host: the lxc.apparmor lines are written, LXC ignores them")
	}
	if ct.CloneFrom == 0 && !b.exists(ct.CTID) {
		if _, err := templateKind(ct.Template); err != nil {
			out = append(out, "create will fail: "+err.Error())
		}
	}
	return out
}

func hasAppArmorLine(ct *engine.Container) bool {
	for _, l := range ct.Later.LXCLines {
		if strings.HasPrefix(l.Key, "lxc.apparmor.") {
			return true
		}
	}
	return false
}
