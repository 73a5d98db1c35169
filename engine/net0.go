package engine

import (
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Proxmox stores net0 and features as property strings and rewrites them
// on the way in: net0 gets name first, the rest sorted, plus hwaddr and
// type=veth. Comparing raw strings would report a difference on every
// run, so the stages compare parsed values (internal/pve's codec).

// ParseNet0 parses a net0 value ("name=eth0,bridge=vmbr0,ip=...") into its
// keys. Keys are lower-cased; values are kept as written.
func ParseNet0(s string) map[string]string {
	m, _ := pve.ParseProps(pve.KindNet, s) // what Proxmox stored always parses
	return m
}

// FormatNet0 renders net0 keys the Proxmox way: name first, then the other
// keys sorted.
func FormatNet0(m map[string]string) string { return pve.FormatProps(pve.KindNet, m) }

// Net0Matches reports whether every key of want has the same value in have.
// Keys only Proxmox adds (type, hwaddr when not wanted, ...) are ignored;
// MAC addresses compare case-insensitively.
func Net0Matches(want, have map[string]string) bool {
	for k, v := range want {
		hv, ok := have[k]
		if !ok {
			return false
		}
		if k == "hwaddr" {
			if !strings.EqualFold(hv, v) {
				return false
			}
			continue
		}
		if hv != v {
			return false
		}
	}
	return true
}

// DesiredNet0 is the net0 keys a container's configuration asks for; nil
// when it has no network.
func DesiredNet0(n *NetConfig) map[string]string {
	if n == nil {
		return nil
	}
	m := map[string]string{}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	name := n.Name
	if name == "" {
		name = "eth0"
	}
	put("name", name)
	put("bridge", n.Bridge)
	put("ip", n.IP)
	put("gw", n.GW)
	put("hwaddr", n.HWAddr)
	if n.Firewall {
		m["firewall"] = "1"
	}
	return m
}

// net0Option spells the desired net0 in the order the issue names:
// name, bridge, ip, gw, hwaddr.
func net0Option(m map[string]string) string {
	var out []string
	for _, k := range []string{"name", "bridge", "ip", "gw", "hwaddr"} {
		if v, ok := m[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	for _, k := range pve.SortedKeys(m) {
		switch k {
		case "name", "bridge", "ip", "gw", "hwaddr":
		default:
			out = append(out, k+"="+m[k])
		}
	}
	return strings.Join(out, ",")
}

// ParseFeatures parses a features value ("nesting=1,keyctl=1").
func ParseFeatures(s string) map[string]string {
	m, _ := pve.ParseProps(pve.KindFlags, s)
	return m
}

// FormatFeatures renders features with keys sorted, so the same set
// always reads the same.
func FormatFeatures(m map[string]string) string { return pve.FormatProps(pve.KindFlags, m) }

// FeaturesMatch reports whether every wanted feature has its value in
// have. "1" and "on"/"true" are not unified: Proxmox stores what it is given.
func FeaturesMatch(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string { return pve.SortedKeys(m) }
