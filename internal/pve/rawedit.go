package pve

import (
	"encoding/json"
	"strings"
)

// The raw lxc.* lines Phoenix manages in /etc/pve/lxc/<CTID>.conf, and
// how a run brings them to what the config asks for (MergeRaw), the same
// for every backend: each applies the one RawEdit MergeRaw computes
// (ApplyRawEdit on a `pct config` map, EditConfRaw on the file's text).
//
// Converging needs to know which lines Phoenix wrote: a line the config
// no longer asks for is removed only when Phoenix wrote it, never when an
// administrator (or another stage, the NVIDIA passthrough) did. That
// record is kept in the container's own configuration, as one line of its
// description (the Notes of the Proxmox GUI):
//
//	phoenix: raw lines ["lxc.apparmor.profile","lxc.idmap","lxc.mount.entry: /srv srv none bind 0 0"]
//
// Why there and not elsewhere: the description is the one free-form field
// of a Proxmox config, and every backend reports and sets it as pct does
// (dry-run, memhost, the fake pct, pct itself, the LXC backend), so the
// record reads and writes the same everywhere; it travels with the conf
// (backups, another node of the cluster) where a state file of Phoenix
// would not; Proxmox turns every comment line of the file into the
// description anyway, so a marker comment would end up there; and a raw
// marker key is impossible (LXC refuses unknown lxc.* keys, Proxmox drops
// them). Phoenix already keeps its provenance line there (engine/drift.go).
// A container whose record is gone (notes edited by hand, a clone, whose
// pct clone gets a description of its own) loses only the removal of
// stale lines: the keys the config asks for are still replaced.

// rawRecordPrefix starts the description line recording Phoenix's lines.
const rawRecordPrefix = "phoenix: raw lines "

// sharedRawKeys are the repeatable LXC keys other writers use too (the
// NVIDIA stage's devices and mounts, an administrator's own mounts): of
// these Phoenix owns single lines, and adds or removes only its own. Every
// other key Phoenix asks for it owns whole: its lines are replaced by the
// config's (a single-valued key such as lxc.apparmor.profile, whose last
// value LXC keeps, and lxc.idmap, whose lines must cover 0–65535 of the
// container together, so they are replaced as one set).
var sharedRawKeys = map[string]bool{
	"lxc.mount.entry": true, "lxc.mount.auto": true, "lxc.include": true,
	"lxc.cgroup.devices.allow": true, "lxc.cgroup.devices.deny": true,
	"lxc.cgroup2.devices.allow": true, "lxc.cgroup2.devices.deny": true,
	"lxc.cap.drop": true, "lxc.cap.keep": true, "lxc.environment": true,
	"lxc.apparmor.raw": true,
}

// SharedRawKey reports whether Phoenix owns single lines of key rather
// than the whole key.
func SharedRawKey(key string) bool {
	return sharedRawKeys[key] || strings.HasPrefix(key, "lxc.hook.")
}

// RawChange is one raw key whose lines change: Old as the config holds
// them, New as they will be (none: the key is removed).
type RawChange struct {
	Key      string
	Old, New []string
}

// RawEdit is what a run changes in a container's raw lines: the keys (in
// the config's order, then the removed ones), and the description when its record line changes.
type RawEdit struct {
	Changes []RawChange
	// Description is the whole new description ("" removes it), set when
	// DescriptionChanged.
	Description        string
	DescriptionChanged bool
	// OldRecord and NewRecord are the record lines, for the plan.
	OldRecord, NewRecord string
}

// Empty reports that nothing changes: the container is converged.
func (e RawEdit) Empty() bool { return len(e.Changes) == 0 && !e.DescriptionChanged }

// MergeRaw compares the raw lines a container's config holds (have, a
// `pct config` map) with the lines the config asks for (want) and returns
// the edit converging them: an owned key the config asks for gets exactly
// the config's lines; a shared key keeps its other lines and gets the
// config's added; a key or line the record says Phoenix wrote and the
// config no longer asks for is removed. Lines are compared with their
// blanks normalised, as Proxmox does not keep them as written.
func MergeRaw(have map[string]string, want []RawLine) RawEdit {
	prevOwned, prevShared := parseRawRecord(have["description"])
	// Keys in the config's order, so new keys are written in it (the
	// nesting include before the profile that must win over its own),
	// then the keys only the record names.
	wantVals := map[string][]string{}
	var keys []string
	for _, l := range want {
		if wantVals[l.Key] == nil {
			keys = append(keys, l.Key)
		}
		if !containsNorm(wantVals[l.Key], l.Value) {
			wantVals[l.Key] = append(wantVals[l.Key], l.Value)
		}
	}
	gone := map[string]bool{}
	for k := range prevOwned {
		gone[k] = wantVals[k] == nil
	}
	for k := range prevShared {
		gone[k] = wantVals[k] == nil
	}
	for _, k := range SortedKeys(gone) {
		if gone[k] {
			keys = append(keys, k)
		}
	}
	var e RawEdit
	for _, key := range keys {
		joined, present := have[key]
		cur := rawValues(joined, present)
		var next []string
		switch {
		case SharedRawKey(key):
			for _, v := range cur {
				if containsNorm(prevShared[key], v) && !containsNorm(wantVals[key], v) {
					continue // Phoenix wrote it; the config no longer asks for it
				}
				next = append(next, v)
			}
			for _, v := range wantVals[key] {
				if !containsNorm(next, v) {
					next = append(next, v)
				}
			}
		case wantVals[key] != nil:
			next = wantVals[key]
		case !prevOwned[key]:
			continue
		}
		if !equalNorm(cur, next) {
			e.Changes = append(e.Changes, RawChange{Key: key, Old: cur, New: next})
		}
	}
	e.OldRecord = findRawRecord(have["description"])
	e.NewRecord = rawRecord(want)
	if e.OldRecord != e.NewRecord {
		e.Description = withRawRecord(have["description"], e.NewRecord)
		e.DescriptionChanged = true
	}
	return e
}

// ApplyRawEdit applies e to a `pct config` map (raw keys joined by "\n").
func ApplyRawEdit(cfg map[string]string, e RawEdit) {
	for _, c := range e.Changes {
		if len(c.New) == 0 {
			delete(cfg, c.Key)
		} else {
			cfg[c.Key] = strings.Join(c.New, "\n")
		}
	}
	if e.DescriptionChanged {
		if e.Description == "" {
			delete(cfg, "description")
		} else {
			cfg["description"] = e.Description
		}
	}
}

// EditConfRaw applies e's line changes to the text of a conf file, in
// place: a changed key's new lines take the place of its first line (its
// other lines go), a new key goes at the end of the main section, before
// the first [snapshot] section. Every other line is kept as written. The
// description is not touched here: pct writes it (`pct set --description`).
func EditConfRaw(conf string, e RawEdit) string {
	change := map[string][]string{}
	for _, c := range e.Changes {
		change[c.Key] = c.New
	}
	all := strings.SplitAfter(conf, "\n")
	var head []string
	end := len(all)
	written := map[string]bool{}
	for i, l := range all {
		if strings.HasPrefix(l, "[") {
			end = i
			break
		}
		key, _, ok := strings.Cut(l, ":")
		key = strings.TrimSpace(key)
		newVals, changed := change[key]
		if !ok || !IsRawKey(key) || !changed {
			head = append(head, l)
			continue
		}
		if !written[key] {
			written[key] = true
			for _, v := range newVals {
				head = append(head, key+": "+v+"\n")
			}
		}
	}
	if n := len(head); n > 0 && !strings.HasSuffix(head[n-1], "\n") {
		head[n-1] += "\n"
	}
	// Proxmox ends the main section with an empty line before a snapshot
	// section; new keys go before it.
	var blank []string
	for len(head) > 0 && strings.TrimSpace(head[len(head)-1]) == "" && end < len(all) {
		blank = append(blank, head[len(head)-1])
		head = head[:len(head)-1]
	}
	for _, c := range e.Changes {
		if written[c.Key] {
			continue
		}
		for _, v := range c.New {
			head = append(head, c.Key+": "+v+"\n")
		}
	}
	return strings.Join(head, "") + strings.Join(blank, "") + strings.Join(all[end:], "")
}

// EditRawArgv spells the edit for the plan, as AppendRawArgv does: the
// first word names the file, then one item per changed line ("- " removed,
// "+ " added, "old → new" for a single value replaced) and the record line
// of the description.
func EditRawArgv(ctid int, e RawEdit) []string {
	out := []string{EditRawVerb(ctid)}
	for _, c := range e.Changes {
		if len(c.Old) == 1 && len(c.New) == 1 {
			out = append(out, c.Key+": "+c.Old[0]+" → "+c.New[0])
			continue
		}
		for _, v := range c.Old {
			if !containsNorm(c.New, v) {
				out = append(out, "- "+c.Key+": "+v)
			}
		}
		for _, v := range c.New {
			if !containsNorm(c.Old, v) {
				out = append(out, "+ "+c.Key+": "+v)
			}
		}
	}
	if e.DescriptionChanged {
		switch {
		case e.NewRecord == "":
			out = append(out, "- description: "+e.OldRecord)
		default:
			out = append(out, "description: "+e.NewRecord)
		}
	}
	return out
}

// EditRawVerb is the first word of EditRawArgv.
func EditRawVerb(ctid int) string { return "# edit /etc/pve/lxc/" + id(ctid) + ".conf:" }

// rawRecord is the record line of want: the owned keys once, the shared
// lines whole, in the config's order.
func rawRecord(want []RawLine) string {
	var items []string
	seen := map[string]bool{}
	for _, l := range want {
		item := l.Key
		if SharedRawKey(l.Key) {
			item = l.Key + ": " + normalise(l.Value)
		}
		if !seen[item] {
			seen[item] = true
			items = append(items, item)
		}
	}
	if len(items) == 0 {
		return ""
	}
	data, _ := json.Marshal(items) // a []string always encodes
	return rawRecordPrefix + string(data)
}

// HasRawRecord reports whether a description records raw lines Phoenix
// wrote.
func HasRawRecord(description string) bool { return findRawRecord(description) != "" }

// findRawRecord is the record line of a description, "" when none.
func findRawRecord(description string) string {
	for _, l := range strings.Split(description, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), rawRecordPrefix) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// parseRawRecord reads the record: the keys Phoenix owns whole and, per
// shared key, the values it wrote. An unreadable record counts as none.
func parseRawRecord(description string) (owned map[string]bool, shared map[string][]string) {
	owned, shared = map[string]bool{}, map[string][]string{}
	rec := findRawRecord(description)
	if rec == "" {
		return owned, shared
	}
	var items []string
	if json.Unmarshal([]byte(strings.TrimPrefix(rec, rawRecordPrefix)), &items) != nil {
		return owned, shared
	}
	for _, it := range items {
		key, value, hasValue := strings.Cut(it, ":")
		key = strings.TrimSpace(key)
		switch {
		case !IsRawKey(key):
		case SharedRawKey(key) && hasValue:
			shared[key] = append(shared[key], strings.TrimSpace(value))
		case !SharedRawKey(key):
			owned[key] = true
		}
	}
	return owned, shared
}

// withRawRecord replaces the record line of description by rec (none when
// rec is ""), keeping every other line.
func withRawRecord(description, rec string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(description, "\n"), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), rawRecordPrefix) {
			lines = append(lines, l)
		}
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	if rec != "" {
		lines = append(lines, rec)
	}
	return strings.Join(lines, "\n")
}

// rawValues are the lines of a key as a config map joins them. A present
// key's empty value is a line too ("lxc.cap.drop: " clears the list).
func rawValues(joined string, present bool) []string {
	if !present {
		return nil
	}
	var out []string
	for _, v := range strings.Split(joined, "\n") {
		out = append(out, strings.TrimSpace(v))
	}
	return out
}

func normalise(v string) string { return strings.Join(strings.Fields(v), " ") }

func containsNorm(vals []string, v string) bool {
	n := normalise(v)
	for _, x := range vals {
		if normalise(x) == n {
			return true
		}
	}
	return false
}

func equalNorm(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if normalise(a[i]) != normalise(b[i]) {
			return false
		}
	}
	return true
}
