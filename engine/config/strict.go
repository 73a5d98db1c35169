package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Strict configuration: every key of both files is checked against the
// embedded schemas, the one place that knows the fields of every era. A
// key the schema does not list at its level is kept (hooks read it) and
// reported: a warning, an error when it is a near miss of a listed key
// ("did you mean ...?"), and an error for every unknown key with
// Options.Strict. Objects the schema leaves free-form (no "properties",
// or "additionalProperties": true) are not looked into.

// keyChecker walks a document beside its schema.
type keyChecker struct {
	defs   map[string]any // the schema's $defs, for "$ref": "#/$defs/NAME"
	strict bool
	p      problems
	// meant holds the pointers of the fields a "did you mean" names
	// (/lxc_configs/901/memory_mb for memroy_mb).
	meant map[string]bool
}

// checkKeys reports the unknown keys of doc, whose schema is the embedded
// file name.
func checkKeys(p problems, name string, doc map[string]any, strict bool) error {
	raw, err := schemaFS.ReadFile(name)
	if err != nil {
		return fmt.Errorf("read embedded schema %s: %w", name, err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		return fmt.Errorf("decode embedded schema %s: %w", name, err)
	}
	defs, _ := root["$defs"].(map[string]any)
	k := keyChecker{defs: defs, strict: strict, p: p, meant: map[string]bool{}}
	k.value(nil, root, doc)
	k.dropMeantRequired()
	return nil
}

// dropMeantRequired removes the schema's "required, found none" of a
// field that a "did you mean" already names: memroy_mb is one mistake,
// said once.
func (k keyChecker) dropMeantRequired() {
	list := (*k.p.list)[:0]
	for _, pr := range *k.p.list {
		if pr.File == k.p.file && !pr.Warning && k.meant[pr.Path] && strings.HasSuffix(pr.Expected, "(required)") {
			continue
		}
		list = append(list, pr)
	}
	*k.p.list = list
}

// resolve follows "$ref": "#/$defs/NAME" (the only form the schemas use).
func (k keyChecker) resolve(s map[string]any) map[string]any {
	for i := 0; i < 8; i++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		next, ok := k.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		if !ok {
			return s
		}
		s = next
	}
	return s
}

func (k keyChecker) value(path []string, schema map[string]any, v any) {
	schema = k.resolve(schema)
	switch x := v.(type) {
	case map[string]any:
		k.object(path, schema, x)
	case []any:
		items, ok := schema["items"].(map[string]any)
		if !ok {
			return
		}
		for i, e := range x {
			k.value(append(path[:len(path):len(path)], strconv.Itoa(i)), items, e)
		}
	}
}

func (k keyChecker) object(path []string, schema map[string]any, obj map[string]any) {
	props, hasProps := schema["properties"].(map[string]any)
	extra := schema["additionalProperties"]
	for _, key := range sortedKeys(obj) {
		child := append(path[:len(path):len(path)], key)
		if s, ok := props[key].(map[string]any); ok {
			k.value(child, s, obj[key])
			continue
		}
		if s, ok := extra.(map[string]any); ok {
			k.value(child, s, obj[key])
			continue
		}
		if !hasProps || extra == true {
			continue // free-form: not Phoenix's to check
		}
		k.unknown(path, key, sortedKeys(props))
	}
}

// unknown reports key, not a field of the object at path.
func (k keyChecker) unknown(path []string, key string, known []string) {
	ptr := pointer(append(path[:len(path):len(path)], key))
	if near := nearest(key, known); near != "" {
		k.meant[pointer(append(path[:len(path):len(path)], near))] = true
		k.p.errorf(ptr, "a known field", "unknown field %q: did you mean %q?", key, near)
		return
	}
	if k.strict {
		k.p.errorf(ptr, "a known field (--strict: unknown fields are errors)", "unknown field %q", key)
		return
	}
	k.p.warnf(ptr, "", "unknown field %q: not a field of any supported version; kept for hooks (config.get, config.container)", key)
}

// nearest is the known name within a small edit distance of key (one
// edit for names of up to 4 characters, two beyond), the closest first;
// "" when there is none.
func nearest(key string, known []string) string {
	limit := 1
	if len(key) > 4 {
		limit = 2
	}
	best, bestD := "", limit+1
	for _, name := range known {
		if d := editDistance(strings.ToLower(key), strings.ToLower(name)); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours each count
// one ("memroy_mb" is one edit from "memory_mb").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
