package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Drift is a difference between a container's config entry and the
// container on the host that pct cannot make in place: the container has
// to be destroyed and built again, or the config set back. A run fails the
// container on it (exit 1, its dependents skipped); the plan shows it with
// the marker "!".
type Drift struct {
	Key  string `json:"key"`  // the config's field: unprivileged, storage_pool, storage_size_gb, template, clone_from_ctid
	Host string `json:"host"` // what the host has, as the config would spell it
	Want string `json:"want"` // what the config asks for
	// Why says why pct cannot do it ("a disk only grows").
	Why string `json:"why,omitempty"`
	// Back is the config value that matches the host ("true"), for the
	// hint; "" when setting it back is not a config edit of this key.
	Back string `json:"back,omitempty"`
}

// Line is the drift as the plan and the error show it, with what to do.
func (d Drift) Line(ctid int) string {
	s := fmt.Sprintf("%s %s → %s", d.Key, d.Host, d.Want)
	if d.Why != "" {
		s += " (" + d.Why + ")"
	}
	s += fmt.Sprintf(": to apply it, `phoenix destroy --ctid %d` then `phoenix run --ctid %d`", ctid, ctid)
	if d.Back != "" {
		s += fmt.Sprintf(", or set %s back to %s in the config", d.Key, d.Back)
	}
	return s
}

// DriftError fails a container whose config asks for changes pct cannot
// make in place.
type DriftError struct {
	CTID  int
	Drift []Drift
}

func (e *DriftError) Error() string {
	lines := make([]string, len(e.Drift))
	for i, d := range e.Drift {
		lines[i] = d.Line(e.CTID)
	}
	return "cannot change in place: " + strings.Join(lines, "; ")
}

// Provenance lines: what phoenix made a container from, written once into
// the container's description (the Notes of the Proxmox GUI) by pct create
// and pct clone. pct config keeps no trace of a clone's source, and keeps
// ostemplate only for what pct create made; this line lets a later run see
// that the config now names another template or clone source. A container
// whose description has no such line (made by hand, or its notes edited)
// is not checked for it.
const (
	provenanceCreated = "phoenix: created from "
	provenanceCloned  = "phoenix: cloned from "
)

// CreatedDescription is the description pct create gets.
func CreatedDescription(template string) string { return provenanceCreated + template }

// ClonedDescription is the description pct clone gets: "phoenix: cloned
// from 900@base-snapshot" (or "from 900" without a snapshot).
func ClonedDescription(source int, snapshot string) string {
	s := provenanceCloned + strconv.Itoa(source)
	if snapshot != "" {
		s += "@" + snapshot
	}
	return s
}

// provenance reads the description's provenance line: the template a
// container was created from, or the container it was cloned from.
func provenance(description string) (template string, source int, ok bool) {
	for _, l := range strings.Split(description, "\n") {
		l = strings.TrimSpace(l)
		if t, found := strings.CutPrefix(l, provenanceCreated); found {
			return strings.TrimSpace(t), 0, true
		}
		if rest, found := strings.CutPrefix(l, provenanceCloned); found {
			id, _, _ := strings.Cut(strings.TrimSpace(rest), "@")
			n, err := strconv.Atoi(id)
			if err == nil && n > 0 {
				return "", n, true
			}
		}
	}
	return "", 0, false
}

// Rootfs is the root disk as `pct config` reports it (internal/pve).
type Rootfs = pve.Volume

// ParseRootfs parses a rootfs value; ok is false when it is empty.
func ParseRootfs(v string) (Rootfs, bool) { return pve.ParseVolume(v) }

// WithSize is a volume value with its size set (pve.WithSize).
func WithSize(volume, size string) string { return pve.WithSize(volume, size) }

func fmtSizeGB(mib int) string { return pve.FormatSizeGB(mib) }

// ResizeRootfs reports the size the root disk must grow to ("64G"), or
// "" when it is as large as the config asks (or larger: that is drift).
func ResizeRootfs(ct *Container, have map[string]string) string {
	r, ok := ParseRootfs(have["rootfs"])
	if !ok || r.SizeMiB == 0 || ct.StorageSizeGB <= 0 || ct.StorageSizeGB*1024 <= r.SizeMiB {
		return ""
	}
	return strconv.Itoa(ct.StorageSizeGB) + "G"
}

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// DriftOf lists what the config asks of an existing container that pct
// cannot change in place, comparing with its `pct config`:
//   - unprivileged, when the entry sets it, or, for a clone, the nearest
//     entry of its clone chain that does (pct clone copies it; the config
//     check refuses a clone asking otherwise than its source); an entry
//     chain without it takes what the host has;
//   - storage_pool (the part of rootfs before ':'), of any container: a
//     clone is made on its own pool (pct clone --storage);
//   - a smaller storage_size_gb (a disk only grows; a larger one is
//     `pct resize`, see ResizeRootfs);
//   - another template, or another clone source, than the container's
//     provenance line says it was made from.
func DriftOf(cfg *Config, ct *Container, have map[string]string) []Drift {
	var out []Drift
	if want, ok := askedUnprivileged(cfg, ct); ok {
		host := strings.TrimSpace(have["unprivileged"]) == "1"
		if host != want {
			out = append(out, Drift{Key: "unprivileged", Host: boolFlag(host), Want: boolFlag(want),
				Why: "Proxmox fixes the id mapping when it makes the container", Back: strconv.FormatBool(host)})
		}
	}
	if r, ok := ParseRootfs(have["rootfs"]); ok {
		if ct.StoragePool != "" && r.Storage != "" && r.Storage != ct.StoragePool {
			out = append(out, Drift{Key: "storage_pool", Host: r.Storage, Want: ct.StoragePool,
				Why: "the root disk lives there", Back: strconv.Quote(r.Storage)})
		}
		if ct.StorageSizeGB > 0 && r.SizeMiB > 0 && ct.StorageSizeGB*1024 < r.SizeMiB {
			out = append(out, Drift{Key: "storage_size_gb", Host: fmtSizeGB(r.SizeMiB), Want: strconv.Itoa(ct.StorageSizeGB),
				Why: "a disk only grows", Back: fmtSizeGB(r.SizeMiB)})
		}
	}
	return append(out, originDrift(ct, have)...)
}

// askedUnprivileged is the unprivileged ct's entry asks, or for a clone
// whose entry does not say, the nearest source's that does: a clone has
// its source's. ok is false when no entry of the chain says (the host's
// is taken) or the config does not tell.
func askedUnprivileged(cfg *Config, ct *Container) (want, ok bool) {
	for seen := 0; ct != nil; seen++ {
		if _, explicit := ct.Raw["unprivileged"]; explicit {
			return ct.Unprivileged, true
		}
		if ct.CloneFrom == 0 || cfg == nil || seen > len(cfg.Containers) {
			return false, false
		}
		ct = cfg.Containers[ct.CloneFrom]
	}
	return false, false
}

// originDrift compares what the container was made from with the config.
func originDrift(ct *Container, have map[string]string) []Drift {
	template, source, known := provenance(have["description"])
	if !known && ct.CloneFrom == 0 {
		// pct create keeps ostemplate: a container made before the
		// provenance line still tells its template.
		template, known = strings.TrimSpace(have["ostemplate"]), have["ostemplate"] != ""
	}
	switch {
	case !known:
		return nil
	case ct.CloneFrom == 0 && source != 0:
		return []Drift{{Key: "template", Host: "(cloned from " + strconv.Itoa(source) + ")", Want: ct.Template,
			Why: "it was cloned, the config creates it", Back: ""}}
	case ct.CloneFrom == 0 && ct.Template != "" && template != ct.Template:
		return []Drift{{Key: "template", Host: template, Want: ct.Template,
			Why: "the root disk was made from it", Back: strconv.Quote(template)}}
	case ct.CloneFrom != 0 && source != 0 && source != ct.CloneFrom:
		return []Drift{{Key: "clone_from_ctid", Host: strconv.Itoa(source), Want: strconv.Itoa(ct.CloneFrom),
			Why: "the root disk was copied from it", Back: strconv.Itoa(source)}}
	}
	// A clone whose description says "created from": the line may be its
	// source's, copied by a clone made by hand; not a finding.
	return nil
}

// ChangeDetail spells the options a `pct set` changes as old → new from
// the host's config: "memory 2048 → 4096; net0.ip 10.0.0.5/24 →
// 10.0.0.6/24". Property strings (net0, features) show the properties
// that change.
func ChangeDetail(opts []Option, have map[string]string) string {
	var parts []string
	for _, o := range opts {
		old := strings.TrimSpace(have[o.Key])
		if !strings.Contains(o.Value, "=") {
			parts = append(parts, o.Key+" "+orNone(old)+" → "+o.Value)
			continue
		}
		oldProps := properties(old)
		for _, kv := range strings.Split(o.Value, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if oldProps[k] != v {
				parts = append(parts, o.Key+"."+k+" "+orNone(oldProps[k])+" → "+v)
			}
		}
	}
	return strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// properties splits a property string ("name=eth0,ip=dhcp"); a bare
// entry maps to "".
func properties(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
	}
	return m
}
