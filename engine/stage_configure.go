package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// configureStage brings the container's options to the configured values.
// Reads: `pct config` (hostname, memory, cores, swap, net0, features,
// unprivileged, rootfs, description, ostemplate).
// Writes: `pct set` of the options that differ, `pct resize` of a root
// disk smaller than storage_size_gb, nothing when they match. What pct
// cannot change in place (drift.go) fails the container before any change.
var configureStage = Stage{Key: StageConfigure, Name: named(StageConfigure), Applies: always, Run: (*ctRun).stageConfigure}

func (c *ctRun) stageConfigure(ctx context.Context) (outcome, error) {
	ct := c.ct
	if err := checkPropertyParts(ct); err != nil {
		return outcome{}, err
	}
	have, err := c.b.Config(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct config %d", ct.CTID)
	}
	if d := DriftOf(c.cfg, ct, have); len(d) > 0 {
		c.res.Drift = d
		return outcome{}, &DriftError{CTID: ct.CTID, Drift: d}
	}
	opts := configDiff(ct, have)
	grow := ResizeRootfs(ct, have)
	if len(opts) == 0 && grow == "" {
		return already("matches"), nil
	}
	var details []string
	if len(opts) > 0 {
		if err := c.b.Set(ctx, ct.CTID, opts, nil); err != nil {
			return outcome{}, pctError(err, "pct set %d", ct.CTID)
		}
		details = append(details, ChangeDetail(opts, have))
	}
	if grow != "" {
		if err := c.resize(ctx, "rootfs", grow); err != nil {
			return outcome{}, err
		}
		old, _ := ParseRootfs(have["rootfs"])
		details = append(details, "rootfs "+fmtSizeGB(old.SizeMiB)+"G → "+grow)
	}
	return done("%s", strings.Join(details, "; ")), nil
}

// set applies opts with `pct set` and names the keys it set ("memory,
// cores"), for a stage's detail.
func (c *ctRun) set(ctx context.Context, opts []Option) (string, error) {
	if err := c.b.Set(ctx, c.ct.CTID, opts, nil); err != nil {
		return "", pctError(err, "pct set %d", c.ct.CTID)
	}
	keys := make([]string, len(opts))
	for i, o := range opts {
		keys[i] = o.Key
	}
	return strings.Join(keys, ", "), nil
}

// resize grows a disk; a backend that cannot is an error saying so.
func (c *ctRun) resize(ctx context.Context, disk, size string) error {
	r, ok := c.b.(Resizer)
	if !ok {
		return fmt.Errorf("pct resize %d %s %s: the %s backend cannot resize a disk", c.ct.CTID, disk, size, c.b.Name())
	}
	if err := r.Resize(ctx, c.ct.CTID, disk, size); err != nil {
		return pctError(err, "pct resize %d %s %s", c.ct.CTID, disk, size)
	}
	return nil
}

// configDiff returns the options whose configured value differs from what
// `pct config` reports, in a fixed order.
func configDiff(ct *Container, have map[string]string) []Option {
	var opts []Option
	for _, o := range plainOptions(ct) {
		if strings.TrimSpace(have[o.Key]) != o.Value {
			opts = append(opts, o)
		}
	}
	if want := DesiredNet0(ct.Net); want != nil {
		got := ParseNet0(have["net0"])
		if !Net0Matches(want, got) {
			if _, ok := want["hwaddr"]; !ok && got["hwaddr"] != "" {
				// Keep the MAC Proxmox gave the interface: a new one
				// would change the container's DHCP lease and ARP entries.
				want["hwaddr"] = got["hwaddr"]
			}
			opts = append(opts, Option{Key: "net0", Value: net0Option(want)})
		}
	}
	if want := desiredFeatures(ct); len(want) > 0 {
		got := ParseFeatures(have["features"])
		if !FeaturesMatch(want, got) {
			opts = append(opts, Option{Key: "features", Value: FormatFeatures(mergeKV(got, want))})
		}
	}
	return opts
}

// plainOptions are the plain values of the entry that pct create takes
// and pct set changes in place (those it sets), in a fixed order: create
// and configure spell them alike.
func plainOptions(ct *Container) []Option {
	var opts []Option
	add := func(k, v string) { opts = append(opts, Option{Key: k, Value: v}) }
	if ct.Hostname != "" {
		add("hostname", ct.Hostname)
	}
	if ct.MemoryMB > 0 {
		add("memory", strconv.Itoa(ct.MemoryMB))
	}
	if ct.Cores > 0 {
		add("cores", strconv.Itoa(ct.Cores))
	}
	if ct.SwapMB > 0 {
		add("swap", strconv.Itoa(ct.SwapMB))
	}
	return opts
}

// mergeKV is have overridden by want: features set by hand are kept.
func mergeKV(have, want map[string]string) map[string]string {
	m := make(map[string]string, len(have)+len(want))
	for k, v := range have {
		m[k] = v
	}
	for k, v := range want {
		m[k] = v
	}
	return m
}
