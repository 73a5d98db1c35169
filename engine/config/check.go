package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// crossCheck runs the checks that span fields or containers, after every
// container is built. All findings are collected.
func crossCheck(p problems, cfg *engine.Config) {
	ids := sortedIDs(cfg.Containers)
	for _, id := range ids {
		c := cfg.Containers[id]
		base := ctPath(id)
		checkCloneSource(p, base, c, cfg)
		checkCloneInherits(p, base, c, cfg)
		resolveDependencies(p, base, c, cfg)
		checkNet(p, base, c)
	}
	checkSnapshotsOfSources(p, cfg, ids)
	checkCycles(p, cfg, ids)
	checkDuplicates(p, cfg, ids)
}

func ctPath(id int) string { return "/lxc_configs/" + strconv.Itoa(id) }

func sortedIDs(m map[int]*engine.Container) []int {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// cloneField is the field a container names its clone source in.
func cloneField(c *engine.Container) string {
	if _, ok := c.Raw["clone_from_ctid"]; ok {
		return "clone_from_ctid"
	}
	return "clone_from_template_ctid"
}

func checkCloneSource(p problems, base string, c *engine.Container, cfg *engine.Config) {
	if c.CloneFrom == 0 {
		return
	}
	if _, ok := cfg.Containers[c.CloneFrom]; !ok {
		p.errorf(base+"/"+cloneField(c), "the id of an LXC container in this file",
			"%d, which is not in lxc_configs: add it, or fix the id", c.CloneFrom)
	}
}

// checkCloneInherits reports what a clone's entry asks that pct clone
// cannot give it: another unprivileged than its source has (pct clone
// copies the id mapping, it has no option to change it), or a smaller
// root disk than its source's (the clone is a copy of that disk, and a
// disk only grows; a larger one is pct resize after the clone).
// Without these, a run would make the clone as its source is, and the
// next one report drift no run could resolve.
func checkCloneInherits(p problems, base string, c *engine.Container, cfg *engine.Config) {
	src := cfg.Containers[c.CloneFrom]
	if src == nil {
		return // checkCloneSource reports it
	}
	if _, explicit := c.Raw["unprivileged"]; explicit {
		if from, want, ok := inheritedUnprivileged(cfg, src); ok && c.Unprivileged != want {
			p.errorf(base+"/unprivileged", fmt.Sprintf("%t, as %d (its source%s) is: a clone inherits it, pct clone cannot change it", want, c.CloneFrom, from),
				"%t: drop unprivileged from %d, or set it to %t (to have both, create %d from a template)", c.Unprivileged, c.CTID, want, c.CTID)
		}
	}
	if size, from := inheritedSize(cfg, src); c.StorageSizeGB > 0 && size > c.StorageSizeGB {
		p.errorf(base+"/storage_size_gb", fmt.Sprintf("at least %d, the size of %d's root disk%s: a clone copies it and a disk only grows", size, c.CloneFrom, from),
			"%d: set it to %d or more, or drop it", c.StorageSizeGB, size)
	}
}

// inheritedUnprivileged is what a clone source's unprivileged is: its own
// when its entry sets it or it is created, else its source's. from says
// where it comes from when that is not the source itself (" cloned from
// 900"). ok is false for a chain without an answer (a cycle, a missing
// source: reported elsewhere).
func inheritedUnprivileged(cfg *engine.Config, src *engine.Container) (from string, want, ok bool) {
	for seen := 0; seen <= len(cfg.Containers); seen++ {
		if _, explicit := src.Raw["unprivileged"]; explicit || src.CloneFrom == 0 {
			return from, src.Unprivileged, true
		}
		from = fmt.Sprintf(", cloned from %d", src.CloneFrom)
		if src = cfg.Containers[src.CloneFrom]; src == nil {
			return "", false, false
		}
	}
	return "", false, false
}

// inheritedSize is the root disk size a clone of src starts with: src's
// storage_size_gb, or, when its entry has none, its own source's.
func inheritedSize(cfg *engine.Config, src *engine.Container) (int, string) {
	from := ""
	for seen := 0; src != nil && seen <= len(cfg.Containers); seen++ {
		if src.StorageSizeGB > 0 || src.CloneFrom == 0 {
			return src.StorageSizeGB, from
		}
		from = fmt.Sprintf(", as cloned from %d", src.CloneFrom)
		src = cfg.Containers[src.CloneFrom]
	}
	return 0, ""
}

// checkSnapshotsOfSources reports, once per source, clone sources without
// template_snapshot_name: clones are taken from that snapshot.
func checkSnapshotsOfSources(p problems, cfg *engine.Config, ids []int) {
	clonesOf := map[int][]string{}
	for _, id := range ids {
		c := cfg.Containers[id]
		if c.CloneFrom != 0 {
			clonesOf[c.CloneFrom] = append(clonesOf[c.CloneFrom], strconv.Itoa(id))
		}
	}
	for _, src := range sortedIDs(asSet(cfg.Containers, clonesOf)) {
		s := cfg.Containers[src]
		if s.TemplateSnapshot != "" {
			continue
		}
		p.errorf(ctPath(src)+"/template_snapshot_name",
			fmt.Sprintf(`the snapshot clones are taken from (%s cloned from %d): add "template_snapshot_name": "<name>" to %d`,
				strings.Join(clonesOf[src], ", "), src, src),
			"none")
	}
}

func asSet(all map[int]*engine.Container, keys map[int][]string) map[int]*engine.Container {
	out := map[int]*engine.Container{}
	for k := range keys {
		if c, ok := all[k]; ok {
			out[k] = c
		}
	}
	return out
}

// resolveDependencies splits dependencies into LXCs of the file and other
// ids (VMs, most likely), which get a warning: ordering against them is
// not enforced.
func resolveDependencies(p problems, base string, c *engine.Container, cfg *engine.Config) {
	deps, _ := c.Raw["dependencies"].([]any)
	for i, d := range deps {
		id, ok := ctidOf(d)
		if !ok {
			continue // the schema reports it
		}
		if _, isLXC := cfg.Containers[id]; isLXC {
			if !slices.Contains(c.Dependencies, id) {
				c.Dependencies = append(c.Dependencies, id)
			}
			continue
		}
		if !slices.Contains(c.ExternalDeps, id) {
			c.ExternalDeps = append(c.ExternalDeps, id)
			p.warnf(fmt.Sprintf("%s/dependencies/%d", base, i), "",
				"%d is not an LXC in this file (a VM?): ordering against it is not enforced", id)
		}
	}
}

// checkCycles finds cycles over clone-source and dependency edges and
// prints each once, starting from its smallest id.
func checkCycles(p problems, cfg *engine.Config, ids []int) {
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[int]int{}
	var stack []int
	seen := map[string]bool{}
	var visit func(id int)
	visit = func(id int) {
		state[id] = onStack
		stack = append(stack, id)
		for _, next := range edges(cfg, id) {
			switch state[next] {
			case unvisited:
				visit(next)
			case onStack:
				reportCycle(p, cycleFrom(stack, next), seen)
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
	}
	for _, id := range ids {
		if state[id] == unvisited {
			visit(id)
		}
	}
}

// edges are the containers id needs first, in a stable order.
func edges(cfg *engine.Config, id int) []int {
	c := cfg.Containers[id]
	var out []int
	if _, ok := cfg.Containers[c.CloneFrom]; ok {
		out = append(out, c.CloneFrom)
	}
	for _, d := range c.Dependencies {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func cycleFrom(stack []int, start int) []int {
	i := slices.Index(stack, start)
	return slices.Clone(stack[i:])
}

func reportCycle(p problems, cycle []int, seen map[string]bool) {
	// Rotate so the smallest id leads: one cycle, one message.
	minAt := 0
	for i, id := range cycle {
		if id < cycle[minAt] {
			minAt = i
		}
	}
	cycle = append(cycle[minAt:], cycle[:minAt]...)
	parts := make([]string, 0, len(cycle)+1)
	for _, id := range cycle {
		parts = append(parts, strconv.Itoa(id))
	}
	parts = append(parts, parts[0])
	text := strings.Join(parts, " -> ")
	if seen[text] {
		return
	}
	seen[text] = true
	p.errorf(ctPath(cycle[0]), "no cycle over clone sources and dependencies",
		"cycle: %s (break it by removing one clone source or dependency)", text)
}

// checkNet checks ip (IPv4 CIDR, "dhcp" or "manual"), gw (IPv4, inside the
// ip's network) and the MAC address.
func checkNet(p problems, base string, c *engine.Container) {
	if c.Net == nil {
		if mac, ok := c.Raw["mac_address"].(string); ok && mac != "" {
			p.warnf(base+"/mac_address", "network_config for the MAC address to apply to",
				"a MAC address but no network_config: it is not used")
		}
		return
	}
	np := base + "/network_config"
	var prefix netip.Prefix
	hasPrefix := false
	switch ip := c.Net.IP; ip {
	case "", "dhcp", "manual":
	default:
		pf, err := netip.ParsePrefix(ip)
		if err != nil || !pf.Addr().Is4() {
			p.errorf(np+"/ip", ipMeaning, "%s", quoteShort(ip))
			break
		}
		prefix, hasPrefix = pf, true
	}
	if gw := c.Net.GW; gw != "" {
		addr, err := netip.ParseAddr(gw)
		switch {
		case err != nil || !addr.Is4():
			p.errorf(np+"/gw", gwMeaning, "%s", quoteShort(gw))
		case hasPrefix && !prefix.Masked().Contains(addr):
			p.warnf(np+"/gw", "a gateway inside "+prefix.Masked().String(),
				"%s, outside the container's network: it will not be reachable directly", gw)
		case hasPrefix && addr == prefix.Addr():
			p.errorf(np+"/gw", "a gateway other than the container's own address", "%s", gw)
		}
	}
	if mac := c.Net.HWAddr; mac != "" {
		checkMAC(p, base+"/mac_address", mac)
	}
	checkNameservers(p, np+"/nameservers", c.Raw)
}

// checkNameservers checks network_config.nameservers: one address, a
// space- or comma-separated string of them, or a list.
func checkNameservers(p problems, path string, raw map[string]any) {
	nc, _ := raw["network_config"].(map[string]any)
	var list []string
	switch v := nc["nameservers"].(type) {
	case string:
		list = strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
	case []any:
		list = stringItems(v)
	}
	for _, ns := range list {
		if _, err := netip.ParseAddr(ns); err != nil {
			p.errorf(path, `IP addresses of DNS servers like "10.0.0.13" or "10.0.0.13 8.8.8.8"`, "%s", quoteShort(ns))
		}
	}
}

var macRE = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$`)

func checkMAC(p problems, path, mac string) {
	if !macRE.MatchString(mac) {
		p.errorf(path, macMeaning, "%s", quoteShort(mac))
		return
	}
	first, _ := strconv.ParseUint(mac[:2], 16, 8)
	if first&1 == 1 {
		p.errorf(path, "a unicast MAC address (first byte even, e.g. 52:54:00:…)", "%s, a multicast address", mac)
	}
}

// checkDuplicates reports two containers sharing an IP address or a MAC
// address, naming both: an error, because they all run at the same time
// (a template is started again after its snapshot, so it runs beside its
// clones; nothing Phoenix builds stays stopped). "dhcp" and "manual" are
// not addresses. A shared hostname is only a warning: Proxmox and the
// network accept it, though it confuses people and DNS.
func checkDuplicates(p problems, cfg *engine.Config, ids []int) {
	ips, macs, names := map[string]int{}, map[string]int{}, map[string]int{}
	const atOnce = " not used by another container (all run at once)"
	for _, id := range ids {
		c := cfg.Containers[id]
		base := ctPath(id)
		if c.Net != nil {
			if pf, err := netip.ParsePrefix(c.Net.IP); err == nil {
				dupe(p.errorf, ips, pf.Addr().String(), id, base+"/network_config/ip", "an IP address"+atOnce)
			}
			if macRE.MatchString(c.Net.HWAddr) {
				dupe(p.errorf, macs, strings.ToLower(c.Net.HWAddr), id, base+"/mac_address", "a MAC address"+atOnce)
			}
		}
		if c.Hostname != "" {
			dupe(p.warnf, names, strings.ToLower(c.Hostname), id, base+"/name", "hostname not used by another container")
		}
	}
}

func dupe(report func(path, expected, found string, args ...any), seen map[string]int, key string, id int, path, expected string) {
	if first, ok := seen[key]; ok {
		report(path, expected, "%s, also used by %d", key, first)
		return
	}
	seen[key] = id
}
