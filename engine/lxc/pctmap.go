package lxc

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// host is what the option mapping needs to know about the machine.
type host struct {
	cgroup2 bool // unified hierarchy: lxc.cgroup2.* keys, else lxc.cgroup.*
	network bool // false: never give a container a network
	bridge  func(name string) bool
	nesting string // path of LXC's nesting.conf, "" when absent
	// apparmor: the kernel has AppArmor enabled (lxc.apparmor.* lines
	// take effect).
	apparmor bool
}

const (
	mib       = 1 << 20
	cpuPeriod = 100000
)

// LXC keys per cgroup hierarchy.
func (h host) memKey() string {
	if h.cgroup2 {
		return "lxc.cgroup2.memory.max"
	}
	return "lxc.cgroup.memory.limit_in_bytes"
}

// applyOption maps one `pct set --key value` onto c. It returns a note
// when the option is kept but has no effect on this backend.
func applyOption(c *lxcConf, key, value string, h host) (note string, err error) {
	switch {
	case key == "hostname":
		c.Set("lxc.uts.name", value)
	case key == "memory":
		n, err := positiveInt(key, value)
		if err != nil {
			return "", err
		}
		c.Del("lxc.cgroup2.memory.max")
		c.Del("lxc.cgroup.memory.limit_in_bytes")
		c.Set(h.memKey(), strconv.Itoa(n*mib))
	case key == "swap":
		n, err := nonNegativeInt(key, value)
		if err != nil {
			return "", err
		}
		c.SetMeta(key, value)
		if h.cgroup2 {
			c.Set("lxc.cgroup2.memory.swap.max", strconv.Itoa(n*mib))
			return "", nil
		}
		return "swap is recorded, not enforced (cgroup v1 host)", nil
	case key == "cores":
		n, err := positiveInt(key, value)
		if err != nil {
			return "", err
		}
		setCores(c, n, h)
	case key == "net0":
		c.SetMeta(key, value)
		return applyNet0(c, value, h), nil
	case key == "features":
		if _, err := pve.ParseProps(pve.KindFlags, value); err != nil {
			return "", fmt.Errorf("features: %w", err)
		}
		c.SetMeta(key, value)
		return applyFeatures(c, value, h), nil
	case strings.HasPrefix(key, "lxc."):
		c.Add(key, value)
	case strings.HasPrefix(key, "mp"):
		return applyMountPoint(c, key, value)
	case strings.HasPrefix(key, "dev"):
		c.SetMeta(key, value)
		return key + " is recorded, not applied: no device passthrough on this backend", nil
	case key == "unprivileged":
		c.SetMeta(key, value)
		syncIDMaps(c)
	default:
		// rootfs, onboot, startup, tags, description, ostype, ...:
		// kept so `pct config` answers as Proxmox would.
		c.SetMeta(key, value)
	}
	return "", nil
}

// deleteOption is `pct set --delete key`.
func deleteOption(c *lxcConf, key string, h host) {
	switch key {
	case "hostname":
		c.Del("lxc.uts.name")
	case "memory":
		c.Del("lxc.cgroup2.memory.max")
		c.Del("lxc.cgroup.memory.limit_in_bytes")
	case "swap":
		c.DelMeta(key)
		c.Del("lxc.cgroup2.memory.swap.max")
	case "cores":
		c.Del("lxc.cgroup2.cpu.max")
		c.Del("lxc.cgroup.cpu.cfs_quota_us")
		c.Del("lxc.cgroup.cpu.cfs_period_us")
	case "net0":
		c.DelMeta(key)
		applyNet0(c, "", h)
	case "features":
		c.DelMeta(key)
		applyFeatures(c, "", h)
	case "unprivileged":
		c.DelMeta(key)
		syncIDMaps(c)
	default:
		c.DelMeta(key)
		c.Del(key)
	}
}

func setCores(c *lxcConf, n int, h host) {
	c.Del("lxc.cgroup2.cpu.max")
	c.Del("lxc.cgroup.cpu.cfs_quota_us")
	c.Del("lxc.cgroup.cpu.cfs_period_us")
	// A CPU quota rather than a cpuset: it holds on a host with fewer
	// CPUs than the config asks for.
	if h.cgroup2 {
		c.Set("lxc.cgroup2.cpu.max", fmt.Sprintf("%d %d", n*cpuPeriod, cpuPeriod))
		return
	}
	c.Set("lxc.cgroup.cpu.cfs_quota_us", strconv.Itoa(n*cpuPeriod))
	c.Set("lxc.cgroup.cpu.cfs_period_us", strconv.Itoa(cpuPeriod))
}

// applyNet0 writes lxc.net.0.* for a pct net0 value. The interface exists
// only when its bridge exists on this host; otherwise the container gets
// no network (loopback only) and the returned note says why.
func applyNet0(c *lxcConf, value string, h host) string {
	c.DelPrefix("lxc.net.0.")
	if value == "" {
		c.Set("lxc.net.0.type", "empty")
		return ""
	}
	n := parseNet0(value)
	br := n["bridge"]
	switch {
	case !h.network:
		c.Set("lxc.net.0.type", "empty")
		return "networking is off (" + EnvNetwork + "=none): no network"
	case br == "" || h.bridge == nil || !h.bridge(br):
		c.Set("lxc.net.0.type", "empty")
		return fmt.Sprintf("no bridge %s on this host: no network", br)
	}
	c.Set("lxc.net.0.type", "veth")
	c.Set("lxc.net.0.link", br)
	c.Set("lxc.net.0.flags", "up")
	if v := n["name"]; v != "" {
		c.Set("lxc.net.0.name", v)
	}
	if v := n["hwaddr"]; v != "" {
		c.Set("lxc.net.0.hwaddr", v)
	}
	if v := n["mtu"]; v != "" {
		c.Set("lxc.net.0.mtu", v)
	}
	// Only a configured address is set; dhcp/manual are left to the
	// container, as Proxmox does.
	if ip := n["ip"]; strings.Contains(ip, "/") {
		c.Set("lxc.net.0.ipv4.address", ip)
		if gw := n["gw"]; gw != "" {
			c.Set("lxc.net.0.ipv4.gateway", gw)
		}
	}
	return ""
}

// applyFeatures maps nesting=1 onto LXC's nesting.conf; the other pct
// features have no LXC key and are only recorded.
func applyFeatures(c *lxcConf, value string, h host) string {
	if h.nesting != "" {
		c.DelValue("lxc.include", h.nesting)
	}
	f := parseFeatures(value)
	if f["nesting"] == "1" && h.nesting != "" {
		c.Add("lxc.include", h.nesting)
	}
	var ignored []string
	for k, v := range f {
		if k == "nesting" && h.nesting != "" || v == "0" {
			continue
		}
		ignored = append(ignored, k)
	}
	if len(ignored) == 0 {
		return ""
	}
	sort.Strings(ignored)
	return "features " + strings.Join(ignored, ",") + " are recorded, not applied on this backend"
}

// pctConfig derives what `pct config` would print from an LXC config.
func pctConfig(c *lxcConf) map[string]string {
	out := map[string]string{}
	for _, k := range c.MetaKeys() {
		v, _ := c.Meta(k)
		out[k] = v
	}
	if v := c.First("lxc.uts.name"); v != "" {
		out["hostname"] = v
	}
	if v := firstOf(c, "lxc.cgroup2.memory.max", "lxc.cgroup.memory.limit_in_bytes"); v != "" {
		if n, ok := parseBytes(v); ok {
			out["memory"] = strconv.FormatInt(n/mib, 10)
		}
	}
	if _, ok := out["swap"]; !ok {
		if n, ok := parseBytes(c.First("lxc.cgroup2.memory.swap.max")); ok {
			out["swap"] = strconv.FormatInt(n/mib, 10)
		}
	}
	if n, ok := cores(c); ok {
		out["cores"] = strconv.Itoa(n)
	}
	if _, ok := out["rootfs"]; !ok {
		if v := c.First("lxc.rootfs.path"); v != "" {
			out["rootfs"] = v
		}
	}
	for _, k := range c.Keys() {
		out[k] = strings.Join(c.Get(k), "\n")
	}
	// pct config shows the container's own lxc.idmap lines, not the
	// default map LXC gets for an unprivileged container without any.
	delete(out, "lxc.idmap")
	if v, ok := c.Meta(idmapMeta); ok {
		out["lxc.idmap"] = strings.ReplaceAll(v, idmapSep, "\n")
	}
	return out
}

// The container's own lxc.idmap lines (what pct config shows) are kept in
// one meta line; syncIDMaps derives from it, and from unprivileged, the
// lxc.idmap lines LXC applies.
const (
	idmapMeta = "idmap"
	idmapSep  = " ; "
)

// syncIDMaps writes the id maps LXC applies: the container's own lxc.idmap
// lines or, for an unprivileged container without any, Proxmox's default
// map (u and g 0 100000 65536); none for a privileged one.
//
// With a map, the rootfs is mounted idmapped (lxc.rootfs.options =
// idmap=container, LXC 5 on a kernel ≥ 5.12 whose filesystem supports
// idmapped mounts: ext4, xfs, btrfs, tmpfs, overlayfs): its files keep the
// container's own ids on the host and the kernel shifts them through the
// container's map. That is chosen over shifting the rootfs's ownership
// (walk + Lchown through old→new map, as Proxmox does on create): nothing
// to walk when a map is set or changed, so a map change needs only the
// restart LXC needs anyway; no half-shifted rootfs when a walk is
// interrupted; setuid/setgid bits, which chown clears, and file
// capabilities (security.capability xattrs, which carry a root uid of
// their own) stay as they are; and the files Phoenix writes from the host
// (Push, the init) need no shift either. A host that cannot mount idmapped
// fails the start with LXC's error naming the rootfs mount.
func syncIDMaps(c *lxcConf) {
	var lines []string
	if v, ok := c.Meta(idmapMeta); ok && v != "" {
		lines = strings.Split(v, idmapSep)
	} else if u, _ := c.Meta("unprivileged"); u == "1" {
		maps, _ := pve.CompleteIDMaps(nil) // the default map: no ranges to overlap
		for _, m := range maps {
			lines = append(lines, m.Line().Value)
		}
	}
	c.Replace("lxc.idmap", lines)
	if len(lines) > 0 {
		c.Set("lxc.rootfs.options", idmapOption)
	} else {
		c.Del("lxc.rootfs.options")
	}
}

// idmapOption mounts the rootfs idmapped through the container's maps.
const idmapOption = "idmap=container"

// recordIDMap adds one lxc.idmap value to the meta line.
func recordIDMap(c *lxcConf, value string) {
	old, _ := c.Meta(idmapMeta)
	for _, v := range strings.Split(old, idmapSep) {
		if v == value {
			return
		}
	}
	if old != "" {
		value = old + idmapSep + value
	}
	c.SetMeta(idmapMeta, value)
}

func cores(c *lxcConf) (int, bool) {
	if v := c.First("lxc.cgroup2.cpu.max"); v != "" {
		q, p, _ := strings.Cut(v, " ")
		return ratio(q, p)
	}
	return ratio(c.First("lxc.cgroup.cpu.cfs_quota_us"), c.First("lxc.cgroup.cpu.cfs_period_us"))
}

func ratio(quota, period string) (int, bool) {
	q, err1 := strconv.Atoi(quota)
	p, err2 := strconv.Atoi(period)
	if err1 != nil || err2 != nil || p <= 0 || q <= 0 {
		return 0, false
	}
	return (q + p - 1) / p, true
}

func firstOf(c *lxcConf, keys ...string) string {
	for _, k := range keys {
		if v := c.First(k); v != "" {
			return v
		}
	}
	return ""
}

// parseBytes reads a cgroup memory value: bytes with an optional K/M/G
// suffix (what memparse accepts). "max" and garbage are not a number.
func parseBytes(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n * mult, true
}

// parseNet0 splits a pct net0 value (internal/pve's codec).
func parseNet0(s string) map[string]string {
	m, _ := pve.ParseProps(pve.KindNet, s)
	return m
}

// parseFeatures splits "nesting=1,keyctl=1"; applyOption has refused a
// bare name already, as pct does.
func parseFeatures(s string) map[string]string {
	m, _ := pve.ParseProps(pve.KindFlags, s)
	return m
}

func positiveInt(key, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: want a positive integer, got %q", key, v)
	}
	return n, nil
}

func nonNegativeInt(key, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: want a non-negative integer, got %q", key, v)
	}
	return n, nil
}

// applyMountPoint is `pct set --mpN`: a bind mount of a host directory
// becomes an lxc.mount.entry line (the one of the mount point's previous
// host path goes); a new storage volume is recorded only, since there is
// no Proxmox storage here.
func applyMountPoint(c *lxcConf, key, value string) (string, error) {
	props, err := pve.ParseProps(pve.KindVolume, value)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if old, ok := c.Meta(key); ok {
		if op, err := pve.ParseProps(pve.KindVolume, old); err == nil && strings.HasPrefix(op["volume"], "/") {
			c.DelValue("lxc.mount.entry", bindEntry(op["volume"], op["mp"]))
		}
	}
	c.SetMeta(key, value)
	if !strings.HasPrefix(props["volume"], "/") {
		return key + " " + props["volume"] + " is recorded, not created: no Proxmox storage on this backend", nil
	}
	c.Add("lxc.mount.entry", bindEntry(props["volume"], props["mp"]))
	return "", nil
}

// bindEntry is LXC's mount entry of a bind mount (the target relative to
// the rootfs, created when missing).
func bindEntry(host, ct string) string {
	return host + " " + strings.TrimPrefix(ct, "/") + " none bind,create=dir 0 0"
}
