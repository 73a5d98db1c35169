package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Nothing in a configuration is dropped without a word: every field that
// no stage applies (engine.Fields says which) is reported as a warning
// "not applied: FIELD (why)", which validate, plan and run print; a field
// the schema does not know is reported by checkKeys (strict.go) instead.
// A field left out by several containers is one warning naming them.

// notApplied lists the fields of cfg's two documents that nothing
// applies, sorted like every other problem.
func notApplied(cfg *engine.Config) []engine.Problem {
	var all []engine.Problem
	if len(cfg.Hypervisor) > 0 {
		reportNotApplied(problems{file: cfg.HypervisorFile, list: &all}, engine.ScopeHypervisor, cfg.Hypervisor)
	}
	reportNotApplied(problems{file: cfg.LXCFile, list: &all}, engine.ScopeLXC, cfg.LXC)
	sortProblems(all)
	return all
}

// finding is one field nothing applies, with where it was found.
type finding struct {
	path, why string
	pointers  []string
	ctids     []string // container scope: the containers that have it
}

type findings struct {
	list  []*finding
	index map[string]*finding
}

func (fs *findings) add(path, why, pointer, ctid string) {
	if fs.index == nil {
		fs.index = map[string]*finding{}
	}
	f := fs.index[path]
	if f == nil {
		f = &finding{path: path, why: why}
		fs.index[path] = f
		fs.list = append(fs.list, f)
	}
	f.pointers = append(f.pointers, pointer)
	if ctid != "" && (len(f.ctids) == 0 || f.ctids[len(f.ctids)-1] != ctid) {
		f.ctids = append(f.ctids, ctid)
	}
}

// reportNotApplied warns about the fields of doc (a whole file, scope
// ScopeLXC or ScopeHypervisor) that nothing applies.
func reportNotApplied(p problems, scope string, doc map[string]any) {
	var top, containers findings
	var hostSetup []string
	for _, key := range sortedKeys(doc) {
		if scope == engine.ScopeLXC && key == "lxc_configs" {
			entries, _ := doc[key].(map[string]any)
			for _, id := range sortedCTIDs(entries) {
				if e, ok := entries[id].(map[string]any); ok {
					w := walker{fs: &containers, host: &hostSetup, scope: engine.ScopeContainer, ctid: id}
					w.members(pointer([]string{"lxc_configs", id}), "", e)
				}
			}
			continue
		}
		w := walker{fs: &top, host: &hostSetup, scope: scope}
		w.field(pointer([]string{key}), key, doc[key])
	}
	if len(hostSetup) > 0 {
		p.warnf("/", "", "not applied: %s (%s)", strings.Join(hostSetup, ", "), engine.WhyHostSetup)
	}
	for _, f := range top.list {
		p.warnf(f.pointers[0], "", "not applied: %s (%s)", f.path, f.why)
	}
	for _, f := range containers.list {
		if len(f.pointers) == 1 {
			p.warnf(f.pointers[0], "", "not applied: %s (%s)", f.path, f.why)
			continue
		}
		p.warnf("/lxc_configs", "", "not applied: %s in %s (%s)", f.path, strings.Join(f.ctids, ", "), f.why)
	}
}

// walker walks one document (or one container entry) for fields nothing
// applies.
type walker struct {
	fs    *findings
	host  *[]string // the host set-up fields, reported together
	scope string
	ctid  string
}

// members walks the members of obj, whose dotted path is prefix.
func (w walker) members(ptr, prefix string, obj map[string]any) {
	for _, key := range sortedKeys(obj) {
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		w.field(ptr+pointer([]string{key}), path, obj[key])
	}
}

// field records path when nothing applies it, else walks what is below.
func (w walker) field(ptr, path string, v any) {
	f, ok := engine.LookupField(w.scope, path)
	switch {
	case !ok:
		return // unknown to the schema: checkKeys reports it
	case f.Use == engine.HostSetup:
		*w.host = append(*w.host, path)
		return
	case f.Use == engine.NotApplied:
		w.fs.add(path, f.Why, ptr, w.ctid)
		return
	case f.Subtree:
		return
	}
	switch x := v.(type) {
	case map[string]any:
		w.members(ptr, path, x)
	case []any:
		for i, item := range x {
			w.field(fmt.Sprintf("%s/%d", ptr, i), path+"[]", item)
		}
	}
}

// sortedCTIDs orders the keys of lxc_configs numerically where they are
// numbers, so 950 comes before 1002.
func sortedCTIDs(entries map[string]any) []string {
	keys := sortedKeys(entries)
	num := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			return -1
		}
		return n
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && num(keys[j]) < num(keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
