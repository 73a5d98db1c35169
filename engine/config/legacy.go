package config

import (
	"sort"
	"strconv"
)

// The formats before v04 (the first phoenix_hypervisor_scripts configs)
// are refused: they are detected before schema validation so the user
// reads "unsupported pre-v04 format" and what to change, rather than a
// list of type mismatches.

const preV04 = "unsupported pre-v04 format"

// numericFields are the known fields that must be JSON numbers; v02/v03
// wrote them as strings ("64").
var numericFields = []string{"memory_mb", "cores", "storage_size_gb", "swap_mb"}

// detectPreV04 reports every pre-v04 field in the LXC document and returns
// the paths it reported, so the schema pass does not report them again.
func detectPreV04(p problems, doc map[string]any) map[string]bool {
	reported := map[string]bool{}
	entries, _ := doc["lxc_configs"].(map[string]any)
	for _, key := range sortedKeys(entries) {
		entry, ok := entries[key].(map[string]any)
		if !ok {
			continue
		}
		for _, f := range detectEntry(key, entry) {
			p.errorf(f.path, f.expected, "%s (%s: %s)", f.found, preV04, f.fix)
			reported[f.path] = true
		}
	}
	return reported
}

type legacyFinding struct{ path, expected, found, fix string }

func detectEntry(ctid string, e map[string]any) []legacyFinding {
	base := pointer([]string{"lxc_configs", ctid})
	var out []legacyFinding
	if v, ok := e["network_config"].(string); ok {
		out = append(out, legacyFinding{
			path:     base + "/network_config",
			expected: "an object {name, bridge, ip, gw}",
			found:    describe(v),
			fix:      `convert "ip/cidr,gw,dns" to {"name": "eth0", "bridge": "vmbr0", "ip": "ip/cidr", "gw": "gw"}`,
		})
	}
	if v, ok := e["setup_script"]; ok {
		out = append(out, legacyFinding{
			path:     base + "/setup_script",
			expected: "no setup_script (hooks are found by CTID in the hooks dir)",
			found:    describe(v),
			fix:      "rename the script to phoenix_hypervisor_setup_" + ctid + ".sh in the hooks dir and remove this field",
		})
	}
	if v, ok := e["balloon_min_mb"]; ok {
		out = append(out, legacyFinding{
			path:     base + "/balloon_min_mb",
			expected: "no balloon_min_mb (LXC containers have no memory balloon)",
			found:    describe(v),
			fix:      "remove it",
		})
	}
	if v, ok := e["nvidia_pci_ids"]; ok {
		out = append(out, legacyFinding{
			path:     base + "/nvidia_pci_ids",
			expected: `gpu_assignment with GPU indices like "0,1"`,
			found:    describe(v),
			fix:      `replace it with "gpu_assignment"`,
		})
	}
	if v, ok := e["swap"]; ok {
		if _, hasNew := e["swap_mb"]; !hasNew {
			out = append(out, legacyFinding{
				path:     base + "/swap",
				expected: "swap_mb",
				found:    describe(v),
				fix:      `rename "swap" to "swap_mb"`,
			})
		}
	}
	for _, f := range numericFields {
		s, ok := e[f].(string)
		if !ok {
			continue
		}
		if _, err := strconv.Atoi(s); err != nil {
			continue // not a number at all: the schema pass reports it
		}
		out = append(out, legacyFinding{
			path:     base + "/" + f,
			expected: "a number",
			found:    describe(s),
			fix:      "numbers given as strings; write " + s + " without quotes",
		})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
