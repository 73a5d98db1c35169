package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// StageMounts attaches mount points and volumes.
const StageMounts = "mounts"

// mountsStage attaches mount_points (bind mounts of host directories) and
// zfs_volumes (new volumes) as mpN. A mount point is matched by its
// container path, never by its index: a converged run adds nothing.
// Reads: `pct config` (mpN); the host directories (HostDirs).
// Writes: each missing host directory, made and given to the container's
// mapped owner (100000+uid for an unprivileged container); `pct set
// --mpN` for each mount point missing, or a bind mount whose host path
// changed.
var mountsStage = Stage{Key: StageMounts, Name: named(StageMounts), Applies: hasMounts, Run: (*ctRun).stageMounts}

func hasMounts(ct *Container) bool { return len(ct.Later.MountPoints)+len(ct.Later.Volumes) > 0 }

// mountPoint is one mpN of the container's config.
type mountPoint struct {
	key   string
	props map[string]string
}

func (c *ctRun) stageMounts(ctx context.Context) (outcome, error) {
	ct := c.ct
	have, err := c.b.Config(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct config %d", ct.CTID)
	}
	byPath := map[string]mountPoint{}
	used := map[int]bool{}
	for k, v := range have {
		n, ok := mpIndex(k)
		if !ok {
			continue
		}
		used[n] = true
		if props, err := pve.ParseProps(pve.KindVolume, v); err == nil {
			byPath[props["mp"]] = mountPoint{key: k, props: props}
		}
	}
	next := 0
	newKey := func() string {
		for used[next] {
			next++
		}
		used[next] = true
		return "mp" + strconv.Itoa(next)
	}
	var details []string
	dirs, err := c.ensureHostDirs(ctx)
	if err != nil {
		return outcome{}, err
	}
	details = append(details, dirs...)
	var opts []Option
	var notes []string
	for _, m := range ct.Later.MountPoints {
		want := pve.FormatProps(pve.KindVolume, map[string]string{"volume": m.HostPath, "mp": m.CTPath})
		if cur, ok := byPath[m.CTPath]; ok {
			if cur.props["volume"] != m.HostPath {
				opts = append(opts, Option{Key: cur.key, Value: want})
			}
			continue
		}
		opts = append(opts, Option{Key: newKey(), Value: want})
	}
	for _, v := range ct.Later.Volumes {
		if cur, ok := byPath[v.Path]; ok {
			if !strings.HasPrefix(cur.props["volume"], v.Pool+":") {
				notes = append(notes, fmt.Sprintf("%s at %s is %s, not on %s: left as is", cur.key, v.Path, cur.props["volume"], v.Pool))
			}
			continue
		}
		want := pve.FormatProps(pve.KindVolume, map[string]string{"volume": v.Pool + ":" + strconv.Itoa(v.SizeGB), "mp": v.Path})
		opts = append(opts, Option{Key: newKey(), Value: want})
	}
	for _, n := range notes {
		c.log("WARN", n)
	}
	if len(opts) > 0 {
		keys, err := c.set(ctx, opts)
		if err != nil {
			return outcome{}, err
		}
		details = append(details, "set "+keys)
	}
	details = append(details, notes...)
	if len(opts) == 0 && len(dirs) == 0 {
		return already("%s", strings.Join(append([]string{"mount points match"}, notes...), "; ")), nil
	}
	return done("%s", strings.Join(details, "; ")), nil
}

// ensureHostDirs makes each bind mount's host directory that is missing,
// or owned by someone else than the mount point's owner asks, and says
// what it did.
func (c *ctRun) ensureHostDirs(ctx context.Context) ([]string, error) {
	ct := c.ct
	if len(ct.Later.MountPoints) == 0 {
		return nil, nil
	}
	dirs, ok := hostDirsOf(c.b)
	if !ok {
		return nil, fmt.Errorf("the %s backend cannot make host directories for mount_points", c.b.Name())
	}
	var out []string
	for _, m := range ct.Later.MountPoints {
		uid, gid := -1, -1
		if m.OwnerUID != nil {
			uid = pve.HostID(ct.Later.IDMaps, "u", *m.OwnerUID, ct.Unprivileged)
		}
		if m.OwnerGID != nil {
			gid = pve.HostID(ct.Later.IDMaps, "g", *m.OwnerGID, ct.Unprivileged)
		}
		exists, hu, hg, err := dirs.StatHostDir(ctx, m.HostPath)
		if err != nil {
			return nil, err
		}
		if exists && (uid < 0 || hu == uid) && (gid < 0 || hg == gid) {
			continue
		}
		if err := dirs.EnsureHostDir(ctx, ct.CTID, m.HostPath, uid, gid); err != nil {
			return nil, err
		}
		out = append(out, "host "+m.HostPath)
	}
	return out, nil
}

// mpIndex parses "mp3" → 3.
func mpIndex(key string) (int, bool) {
	rest, ok := strings.CutPrefix(key, "mp")
	if !ok || rest == "" {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}
