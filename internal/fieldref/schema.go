package fieldref

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// SchemaField is what the schema says about one field.
type SchemaField struct {
	Type        string
	Description string
}

// SchemaFields reads a schema document and returns its fields keyed by
// scope and path ("container\x00network_config.ip"). lxc_configs' entries
// are ScopeContainer; the rest of the document is scope.
func SchemaFields(scope string, schemaJSON []byte) (map[string]SchemaField, error) {
	var root map[string]any
	if err := json.Unmarshal(schemaJSON, &root); err != nil {
		return nil, fmt.Errorf("decode schema: %w", err)
	}
	w := schemaWalker{root: root, out: map[string]SchemaField{}}
	w.object(scope, "", root, 0)
	return w.out, nil
}

// Key is the map key of SchemaFields and Eras.
func Key(scope, path string) string { return scope + "\x00" + path }

type schemaWalker struct {
	root map[string]any
	out  map[string]SchemaField
}

// maxDepth bounds $ref chains: the schema is ours, but a cycle must not hang.
const maxDepth = 32

// resolve follows "$ref": "#/$defs/NAME".
func (w schemaWalker) resolve(s map[string]any) map[string]any {
	for i := 0; i < maxDepth; i++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			return s
		}
		defs, _ := w.root["$defs"].(map[string]any)
		next, ok := defs[name].(map[string]any)
		if !ok {
			return s
		}
		// Keywords beside the $ref (a description) win over the target's.
		merged := map[string]any{}
		for k, v := range next {
			merged[k] = v
		}
		for k, v := range s {
			if k != "$ref" {
				merged[k] = v
			}
		}
		s = merged
	}
	return s
}

// object records the properties of s (an object schema) under prefix.
func (w schemaWalker) object(scope, prefix string, s map[string]any, depth int) {
	if depth > maxDepth {
		return
	}
	s = w.resolve(s)
	props, _ := s["properties"].(map[string]any)
	for _, name := range sortedKeys(props) {
		ps, ok := props[name].(map[string]any)
		if !ok {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if scope == engine.ScopeLXC && path == "lxc_configs" {
			w.out[Key(scope, path)] = SchemaField{Type: "object: CTID → container", Description: description(ps)}
			if c, ok := ps["additionalProperties"].(map[string]any); ok {
				w.object(engine.ScopeContainer, "", c, depth+1)
			}
			continue
		}
		w.field(scope, path, ps, depth+1)
	}
}

// field records one property and walks into it.
func (w schemaWalker) field(scope, path string, s map[string]any, depth int) {
	if depth > maxDepth {
		return
	}
	s = w.resolve(s)
	w.out[Key(scope, path)] = SchemaField{Type: w.typeOf(s, 0), Description: description(s)}
	if _, ok := s["properties"]; ok {
		w.object(scope, path, s, depth+1)
	}
	if items, ok := s["items"].(map[string]any); ok {
		items = w.resolve(items)
		if _, ok := items["properties"]; ok {
			w.field(scope, path+"[]", items, depth+1)
		}
	}
}

// typeOf renders a schema's type for a person: "string", "integer ≥ 1",
// "array of string", `"dev" or "lxc"`, "string or array of string".
func (w schemaWalker) typeOf(s map[string]any, depth int) string {
	if depth > maxDepth {
		return "any"
	}
	s = w.resolve(s)
	if enum, ok := s["enum"].([]any); ok {
		vals := make([]string, len(enum))
		for i, v := range enum {
			b, _ := json.Marshal(v)
			vals[i] = string(b)
		}
		return strings.Join(vals, " or ")
	}
	for _, key := range []string{"oneOf", "anyOf"} {
		if alts, ok := s[key].([]any); ok {
			var out []string
			for _, a := range alts {
				if as, ok := a.(map[string]any); ok {
					out = append(out, w.typeOf(as, depth+1))
				}
			}
			return strings.Join(out, " or ")
		}
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, v := range t {
			if str, ok := v.(string); ok {
				types = append(types, str)
			}
		}
	}
	if len(types) == 0 {
		return "any"
	}
	for i, t := range types {
		if t == "array" {
			if items, ok := s["items"].(map[string]any); ok {
				types[i] = "array of " + w.typeOf(items, depth+1)
			}
		}
	}
	return strings.Join(types, " or ")
}

func description(s map[string]any) string {
	d, _ := s["description"].(string)
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
