package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// DestroyPlan is what Destroy will do, checked before anything changes.
type DestroyPlan struct {
	// Order is every requested container, dependents first (clones before
	// their sources): the reverse of StartOrder.
	Order []int
	// OnHost are the containers of Order that exist, with their `pct list`
	// line; the others are already gone.
	OnHost map[int]ListEntry
}

// PlanDestroy orders the containers of o.CTIDs for Destroy and refuses
// (an *ExitError with ExitUsage: nothing was changed) when a container
// that stays on the host was cloned from one of them or depends on one of
// them. Only containers the config names are ever destroyed. It reads
// `pct list` once.
func PlanDestroy(ctx context.Context, o LifecycleOptions) (*DestroyPlan, error) {
	if o.Config == nil || o.Backend == nil {
		return nil, fmt.Errorf("destroy: no configuration or backend")
	}
	order, err := StartOrder(o.Config, o.CTIDs)
	if err != nil {
		return nil, err
	}
	list, err := o.Backend.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("pct list: %w", err)
	}
	p := &DestroyPlan{Order: reversed(order), OnHost: map[int]ListEntry{}}
	onHost := map[int]bool{}
	leaving := map[int]bool{}
	for _, id := range order {
		leaving[id] = true
	}
	for _, e := range list {
		onHost[e.CTID] = true
		if leaving[e.CTID] {
			p.OnHost[e.CTID] = e
		}
	}
	var refusals []string
	for _, id := range order {
		if r := refusal(o.Config, id, leaving, onHost); r != "" {
			refusals = append(refusals, r)
		}
	}
	if len(refusals) > 0 {
		return nil, &ExitError{Code: ExitUsage, Err: errors.New(strings.Join(refusals, "\n") + "\nnothing was changed")}
	}
	return p, nil
}

// refusal says why id cannot go alone: the containers on the host that
// stay and were cloned from it or depend on it. "" when none.
func refusal(cfg *Config, id int, leaving, onHost map[int]bool) string {
	var clones, dependents []int
	for _, other := range sortedIDs(cfg) {
		ct := cfg.Containers[other]
		if leaving[other] || !onHost[other] {
			continue
		}
		if ct.CloneFrom == id {
			clones = append(clones, other)
		} else if slices.Contains(ct.Dependencies, id) {
			dependents = append(dependents, other)
		}
	}
	if len(clones) == 0 && len(dependents) == 0 {
		return ""
	}
	var remain, add []string
	for _, d := range clones {
		remain = append(remain, names(cfg, []int{d})+" (cloned from it)")
		add = append(add, "--ctid "+strconv.Itoa(d))
	}
	for _, d := range dependents {
		remain = append(remain, names(cfg, []int{d})+" (depends on it)")
		add = append(add, "--ctid "+strconv.Itoa(d))
	}
	msg := fmt.Sprintf("refusing to destroy %d %s: %s would remain; destroy them in the same call (add %s) or use --all",
		id, cfg.Containers[id].Hostname, strings.Join(remain, ", "), strings.Join(add, " "))
	if len(clones) > 0 {
		msg += "; a template's linked clones must go before it: pct refuses to destroy a template while they exist"
	}
	return msg
}

func sortedIDs(cfg *Config) []int {
	ids := make([]int, 0, len(cfg.Containers))
	for id := range cfg.Containers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// names is "902 BaseTemplateDocker, 910 Portainer".
func names(cfg *Config, ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id) + " " + cfg.Containers[id].Hostname
	}
	return strings.Join(parts, ", ")
}

// Destroy destroys the containers of p in its order: each running one is
// shut down (then stopped, if it does not stop within the timeout), then
// `pct destroy CTID --purge` (its config, raw lxc lines and disks go, and
// with its rootfs the hook marker), then the files phoenix wrote for it
// under the Proxmox config root (firewall/<CTID>.fw). A container that
// fails is left; the others go on, but never its sources: what a failed
// container was cloned from or depends on is skipped.
func Destroy(ctx context.Context, o LifecycleOptions, p *DestroyPlan) (*Result, error) {
	l, err := newLifecycle(o)
	if err != nil {
		return nil, err
	}
	failed := map[int]bool{}
	for _, id := range p.Order {
		c := l.ct(id)
		if blocker := firstFailedDependent(o.Config, id, failed); blocker != 0 {
			c.res.State = StageSkipped
			c.res.Reason = fmt.Sprintf("%d was not destroyed", blocker)
			c.stageEvent(StageDestroy, StageSkipped, c.res.Reason)
			failed[id] = true
			continue
		}
		if ctx.Err() != nil {
			c.interrupt(StageStop)
			continue
		}
		for _, s := range []Stage{l.stopStage(), l.destroyStage()} {
			if !c.runStage(ctx, s) {
				failed[id] = true
				break
			}
		}
	}
	return l.result(ctx, p.Order, []string{StageStop, StageDestroy}), nil
}

// firstFailedDependent is a container that was cloned from id or depends
// on it and was not destroyed (0: none).
func firstFailedDependent(cfg *Config, id int, failed map[int]bool) int {
	for _, other := range sortedIDs(cfg) {
		if failed[other] && slices.Contains(containerDeps(cfg.Containers[other]), id) {
			return other
		}
	}
	return 0
}

func (l *lifecycle) destroyStage() Stage {
	return Stage{Key: StageDestroy, Name: named(StageDestroy), Applies: always, Run: (*ctRun).destroyContainer}
}

func (c *ctRun) destroyContainer(ctx context.Context) (outcome, error) {
	ctid := c.ct.CTID
	st, err := c.status(ctx)
	if err != nil {
		return outcome{}, err
	}
	detail := "destroyed"
	if st.Exists {
		if err := c.b.Destroy(ctx, ctid); err != nil {
			return outcome{}, destroyHint(pctError(err, "pct destroy %d", ctid), ctid)
		}
	} else {
		detail = "already gone"
	}
	removed, err := c.removePVEFiles(ctx)
	if err != nil {
		return outcome{}, err
	}
	if len(removed) > 0 {
		detail += "; removed " + strings.Join(removed, ", ")
	}
	if !st.Exists && len(removed) == 0 {
		return already("%s", detail), nil
	}
	return done("%s", detail), nil
}

// destroyHint says what to do when pct refuses because linked clones of a
// template still use its base volume.
func destroyHint(err error, ctid int) error {
	if errors.Is(err, pve.ErrLinkedClones) {
		return fmt.Errorf("%w: destroy the template's linked clones first (containers cloned from %d without --full; `pct list` names them)", err, ctid)
	}
	return withHint(err, ctid)
}

// pveFilesOfContainer are the files phoenix writes for a container under
// the Proxmox config root that `pct destroy` leaves behind (its own
// lxc/<CTID>.conf, raw lines included, goes with pct destroy).
func pveFilesOfContainer(ctid int) []string { return []string{pve.FirewallRel(ctid)} }

// removePVEFiles removes the container's pveFilesOfContainer that exist,
// through the backend's PVEFiles (dry-run: recorded); a backend without
// Proxmox files (lxc) has none.
func (c *ctRun) removePVEFiles(ctx context.Context) ([]string, error) {
	files, ok := pveFilesOf(c.b)
	if !ok {
		return nil, nil
	}
	var removed []string
	for _, rel := range pveFilesOfContainer(c.ct.CTID) {
		if _, err := files.ReadPVEFile(ctx, rel); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return removed, fmt.Errorf("read /etc/pve/%s: %w", rel, err)
		}
		if err := files.RemovePVEFile(ctx, c.ct.CTID, rel); err != nil {
			return removed, fmt.Errorf("remove /etc/pve/%s: %w", rel, err)
		}
		removed = append(removed, "/etc/pve/"+rel)
	}
	return removed, nil
}
