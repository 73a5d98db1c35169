package config

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// The later-era fields (v07–v09): mount points, volumes, boot order, raw
// LXC options, AppArmor, id maps, firewall, application script, health
// check, lifecycle snapshots and integration tests. Each value is checked
// here, where the message can say what the field becomes; a value that
// would not be written as itself (a line break in a raw line, a blank in a
// firewall address) is refused, never passed on.

var (
	scriptName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	profile    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

// Defaults of health_check.
const (
	DefaultHealthRetries  = 1
	DefaultHealthInterval = 10 * time.Second
)

// applyLater fills c.Later from entry e at JSON path base.
func applyLater(p problems, base string, e map[string]any, c *engine.Container) {
	l := &c.Later
	l.MountPoints = mountPoints(p, base+"/mount_points", e["mount_points"])
	l.Volumes = volumes(p, base+"/zfs_volumes", e["zfs_volumes"])
	l.Volumes = append(l.Volumes, volumes(p, base+"/volumes", e["volumes"])...)
	l.Boot = boot(p, base, e)
	if nc, ok := e["network_config"].(map[string]any); ok {
		l.Nameservers = nameservers(nc["nameservers"])
	}
	if opts, ok := e["pct_options"].([]any); ok {
		for i, o := range opts {
			s, _ := o.(string) // other types: the schema reports them
			if s != "" && !strings.Contains(s, "=") {
				p.errorf(fmt.Sprintf("%s/pct_options/%d", base, i), "a pct feature as key=value (nesting=1)", "%s", quoteShort(s))
				continue
			}
			addFeature(p, fmt.Sprintf("%s/pct_options/%d", base, i), strings.TrimSpace(s), c)
		}
	}
	l.IDMaps = idMaps(p, base+"/id_maps", e["id_maps"], c.Unprivileged)
	l.LXCLines = lxcLines(p, base, e, l.IDMaps)
	l.Firewall = firewall(p, base+"/firewall", e["firewall"])
	if l.Firewall != nil && c.Net != nil {
		c.Net.Firewall = l.Firewall.Enabled
	}
	if v, ok := e["application_script"]; ok {
		s, _ := v.(string)
		if !scriptName.MatchString(s) {
			p.errorf(base+"/application_script", "a file name in the hooks dir (phoenix_hypervisor_lxc_vllm.sh)", "%s", describe(v))
		} else {
			l.ApplicationScript = s
		}
	}
	l.HealthCheck = healthCheck(p, base, e)
	l.LifecycleSnapshots = boolField(p, base+"/enable_lifecycle_snapshots", e["enable_lifecycle_snapshots"])
	l.Tests = integrationTests(p, base+"/tests/integration_tests", e["tests"])
}

func boolField(p problems, at string, v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	}
	p.errorf(at, "true or false", "%s", describe(v))
	return false
}

// objects returns the items of a list of objects, reporting the others.
func objects(p problems, at string, v any) []map[string]any {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		p.errorf(at, "a list of objects", "%s", describe(v))
		return nil
	}
	out := make([]map[string]any, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			p.errorf(fmt.Sprintf("%s/%d", at, i), "an object", "%s", describe(item))
			continue
		}
		out = append(out, m)
	}
	return out
}

// absPath reads a required absolute, clean path without blanks that pct
// would split on (",").
func absPath(p problems, at string, v any) (string, bool) {
	s, _ := v.(string)
	if s == "" || !path.IsAbs(s) || strings.ContainsAny(s, ",=\n\r\x00") || path.Clean(s) != s {
		p.errorf(at, "an absolute path without \",\" or \"=\" (/srv/data)", "%s", describe(v))
		return "", false
	}
	return s, true
}

func optionalID(p problems, at string, v any) *int {
	if v == nil {
		return nil
	}
	n, ok := intOf(v)
	if !ok || n < 0 || n > 65535 {
		p.errorf(at, "a container uid/gid 0–65535", "%s", describe(v))
		return nil
	}
	return &n
}

func mountPoints(p problems, at string, v any) []engine.MountPoint {
	var out []engine.MountPoint
	seen := map[string]bool{}
	for i, m := range objects(p, at, v) {
		item := fmt.Sprintf("%s/%d", at, i)
		host, ok1 := absPath(p, item+"/host_path", m["host_path"])
		ct, ok2 := absPath(p, item+"/container_path", m["container_path"])
		uid := optionalID(p, item+"/owner_uid", m["owner_uid"])
		gid := optionalID(p, item+"/owner_gid", m["owner_gid"])
		if !ok1 || !ok2 {
			continue
		}
		if seen[ct] {
			p.errorf(item+"/container_path", "one mount point per container path", "%s again", ct)
			continue
		}
		seen[ct] = true
		out = append(out, engine.MountPoint{HostPath: host, CTPath: ct, OwnerUID: uid, OwnerGID: gid})
	}
	return out
}

var storageID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)

func volumes(p problems, at string, v any) []engine.Volume {
	var out []engine.Volume
	for i, m := range objects(p, at, v) {
		item := fmt.Sprintf("%s/%d", at, i)
		pool, _ := m["pool"].(string)
		if !storageID.MatchString(pool) {
			p.errorf(item+"/pool", "a Proxmox storage id (local-zfs)", "%s", describe(m["pool"]))
			continue
		}
		size, ok := intOf(m["size_gb"])
		if !ok || size < 1 {
			p.errorf(item+"/size_gb", "a size in GiB, at least 1", "%s", describe(m["size_gb"]))
			continue
		}
		mp, ok := absPath(p, item+"/mount_point", m["mount_point"])
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		out = append(out, engine.Volume{Name: name, Pool: pool, SizeGB: size, Path: mp})
	}
	return out
}

func boot(p problems, base string, e map[string]any) *engine.Boot {
	_, a := e["start_at_boot"]
	_, b := e["boot_order"]
	_, c := e["boot_delay"]
	if !a && !b && !c {
		return nil
	}
	out := &engine.Boot{OnBoot: boolField(p, base+"/start_at_boot", e["start_at_boot"])}
	for key, dst := range map[string]**int{"boot_order": &out.Order, "boot_delay": &out.Delay} {
		v, ok := e[key]
		if !ok {
			continue
		}
		if n, ok := intOf(v); ok && n >= 0 {
			*dst = &n
		} // else: the schema reports it
	}
	return out
}

// nameservers reads network_config.nameservers; checkNameservers reports
// what is not an address, so only addresses are kept.
func nameservers(v any) []string {
	var items []string
	switch x := v.(type) {
	case string:
		items = strings.FieldsFunc(x, func(r rune) bool { return r == ' ' || r == ',' })
	case []any:
		items = stringItems(x)
	}
	var out []string
	for _, s := range items {
		if _, err := netip.ParseAddr(s); err == nil {
			out = append(out, s)
		}
	}
	return out
}

func idMaps(p problems, at string, v any, unprivileged bool) []pve.IDMap {
	entries := objects(p, at, v)
	if len(entries) == 0 {
		return nil
	}
	if !unprivileged {
		p.errorf(at, "id_maps only on an unprivileged container", "a privileged container (unprivileged: false): remove id_maps or set unprivileged true")
		return nil
	}
	var mapped []pve.IDMap
	for i, m := range entries {
		item := fmt.Sprintf("%s/%d", at, i)
		kind := map[string]string{"u": "u", "uid": "u", "g": "g", "gid": "g"}[str(m["type"])]
		if kind == "" {
			p.errorf(item+"/type", `"uid" or "gid" ("u" or "g")`, "%s", describe(m["type"]))
			continue
		}
		var n [3]int
		ok := true
		for j, key := range []string{"container_id", "host_id", "size"} {
			if n[j], ok = intOf(m[key]); !ok || n[j] < 0 {
				p.errorf(item+"/"+key, "a whole number, at least 0", "%s", describe(m[key]))
				break
			}
		}
		if ok {
			mapped = append(mapped, pve.IDMap{Kind: kind, CT: n[0], Host: n[1], Size: n[2]})
		}
	}
	out, err := pve.CompleteIDMaps(mapped)
	if err != nil {
		p.errorf(at, "id maps that fit in 0–65535 without overlapping", "%v", err)
		return nil
	}
	return out
}

// lxcLines are the raw lines the container's config must hold:
// lxc_options, then the AppArmor lines, then the id maps; a line given
// twice is kept once, one key given two values where LXC keeps only the
// last (lxc.apparmor.profile) is an error.
func lxcLines(p problems, base string, e map[string]any, maps []pve.IDMap) []pve.RawLine {
	var out []pve.RawLine
	have := map[pve.RawLine]bool{}
	single := map[string]string{} // key → the first value, for single-valued keys
	add := func(at string, l pve.RawLine) {
		if have[l] {
			return
		}
		if l.Key == "lxc.apparmor.profile" {
			if first, ok := single[l.Key]; ok && first != l.Value {
				p.errorf(at, "one AppArmor profile ("+first+")", "%s: remove one of the two", l.Value)
				return
			}
			single[l.Key] = l.Value
		}
		have[l] = true
		out = append(out, l)
	}
	if opts, ok := e["lxc_options"].([]any); ok {
		for i, o := range opts {
			at := fmt.Sprintf("%s/lxc_options/%d", base, i)
			s, ok := o.(string)
			if !ok {
				continue // the schema reports it
			}
			line, changed, err := pve.ParseLXCOption(s)
			if err != nil {
				p.errorf(at, `one LXC option "lxc.<key>: <value>"`, "%v", err)
				continue
			}
			if changed {
				p.warnf(at, "", "%q is not Proxmox's form: written as %q", s, line.String())
			}
			add(at, line)
		}
	}
	if v, ok := e["apparmor_manages_nesting"]; ok && boolField(p, base+"/apparmor_manages_nesting", v) {
		// nesting.conf sets a profile of its own: the profile line below
		// comes after it, so the configured one wins.
		add(base+"/apparmor_manages_nesting", pve.RawLine{Key: "lxc.include", Value: "/usr/share/lxc/config/nesting.conf"})
		add(base+"/apparmor_manages_nesting", pve.RawLine{Key: "lxc.apparmor.allow_nesting", Value: "1"})
	}
	if v, ok := e["apparmor_profile"]; ok {
		s, _ := v.(string)
		if !profile.MatchString(s) {
			p.errorf(base+"/apparmor_profile", `an AppArmor profile name, "unconfined" or "generated"`, "%s", describe(v))
		} else {
			add(base+"/apparmor_profile", pve.RawLine{Key: "lxc.apparmor.profile", Value: s})
		}
	}
	for _, m := range maps {
		add(base+"/id_maps", m.Line())
	}
	return out
}

func firewall(p problems, at string, v any) *engine.Firewall {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		p.errorf(at, "an object {enabled, rules}", "%s", describe(v))
		return nil
	}
	fw := &engine.Firewall{Enabled: boolField(p, at+"/enabled", m["enabled"])}
	for i, r := range objects(p, at+"/rules", m["rules"]) {
		item := fmt.Sprintf("%s/rules/%d", at, i)
		port := str(r["port"])
		if n, ok := intOf(r["port"]); ok {
			port = fmt.Sprint(n)
		}
		rule := pve.FirewallRule{
			Dir: strings.ToUpper(str(r["type"])), Action: strings.ToUpper(str(r["action"])),
			Source: str(r["source"]), Dest: str(r["dest"]), Proto: strings.ToLower(str(r["proto"])),
			DPort: port, Comment: str(r["comment"]),
		}
		if err := rule.Check(); err != nil {
			field, msg, _ := strings.Cut(err.Error(), ": ")
			p.errorf(item+"/"+field, "a rule Proxmox can read", "%s", msg)
			continue
		}
		fw.Rules = append(fw.Rules, rule)
	}
	return fw
}

// healthCheck reads health_check, or the first entry of health_checks[]
// (the spelling the original's Step-CA container used, which it never
// ran).
func healthCheck(p problems, base string, e map[string]any) *engine.HealthCheck {
	at, v := base+"/health_check", e["health_check"]
	if v == nil {
		list, ok := e["health_checks"].([]any)
		if !ok || len(list) == 0 {
			return nil
		}
		if len(list) > 1 {
			p.errorf(base+"/health_checks", "one health check", "%d: keep one", len(list))
		}
		at, v = base+"/health_checks/0", list[0]
	}
	m, ok := v.(map[string]any)
	if !ok {
		p.errorf(at, "an object {command, retries, interval}", "%s", describe(v))
		return nil
	}
	cmd, _ := m["command"].(string)
	if strings.TrimSpace(cmd) == "" || strings.ContainsAny(cmd, "\n\r\x00") {
		p.errorf(at+"/command", "a command (one line)", "%s", describe(m["command"]))
		return nil
	}
	hc := &engine.HealthCheck{Command: cmd, Retries: DefaultHealthRetries, Interval: DefaultHealthInterval}
	if r, ok := m["retries"]; ok {
		if n, ok := intOf(r); ok && n >= 1 && n <= 1000 {
			hc.Retries = n
		} else {
			p.errorf(at+"/retries", "a number of tries, 1–1000", "%s", describe(r))
		}
	}
	if iv, ok := m["interval"]; ok {
		if n, ok := intOf(iv); ok && n >= 0 && n <= 3600 {
			hc.Interval = time.Duration(n) * time.Second
		} else {
			p.errorf(at+"/interval", "seconds between tries, 0–3600", "%s", describe(iv))
		}
	}
	return hc
}

func integrationTests(p problems, at string, v any) []engine.IntegrationTest {
	tests, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var out []engine.IntegrationTest
	for i, m := range objects(p, at, tests["integration_tests"]) {
		t := engine.IntegrationTest{Name: str(m["name"]), Type: str(m["type"]), Path: str(m["path"])}
		if t.Path == "" || strings.ContainsAny(t.Path, "\n\r\x00") {
			p.errorf(fmt.Sprintf("%s/%d/path", at, i), "the test script's path", "%s", describe(m["path"]))
			continue
		}
		out = append(out, t)
	}
	return out
}
