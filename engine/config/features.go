package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

var (
	featureName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	mountTypes  = regexp.MustCompile(`^[a-z0-9]+(;[a-z0-9]+)*$`)
)

// pctFeatureKeys are the key=value features `pct --features` understands.
var pctFeatureKeys = []string{"nesting", "keyctl", "fuse", "mknod", "mount"}

// stageFeatures are the named features a built-in stage handles.
var stageFeatures = []string{"nvidia", "docker"}

// KnownFeatures are the named features that have a built-in stage
// ("nvidia", "docker"), plus the pct key=value features (nesting, keyctl,
// fuse, mknod, mount). Everything else in a features list is "not
// handled": the planner shows it, and a hook may act on it.
var KnownFeatures = append(slices.Clone(stageFeatures), pctFeatureKeys...)

// Unhandled returns the named features of c that no built-in stage
// handles (e.g. "vllm", "base_setup", "traefik"), in config order.
func Unhandled(c *engine.Container) []string {
	var out []string
	for _, n := range c.Named {
		if !slices.Contains(KnownFeatures, n) {
			out = append(out, n)
		}
	}
	return out
}

// HookVars are the variable names allowed in hook_args "${NAME}": the
// environment a hook runs with (see the design's "Legacy shell hooks").
var HookVars = engine.HookEnvVars

// parseFeatures splits features, the old "nesting=1,keyctl=1" string or
// the later list, into pct key=value features and named features.
func parseFeatures(p problems, path string, v any, c *engine.Container) {
	type item struct{ path, text string }
	var items []item
	switch x := v.(type) {
	case string:
		for _, s := range strings.Split(x, ",") {
			items = append(items, item{path, s})
		}
	case []any:
		for i, e := range x {
			if s, ok := e.(string); ok { // other types: the schema reports them
				items = append(items, item{fmt.Sprintf("%s/%d", path, i), s})
			}
		}
	}
	for _, it := range items {
		addFeature(p, it.path, strings.TrimSpace(it.text), c)
	}
}

func addFeature(p problems, path, f string, c *engine.Container) {
	if f == "" {
		return
	}
	key, val, isKV := strings.Cut(f, "=")
	if !isKV {
		// A feature name becomes part of a hook's file name.
		if !featureName.MatchString(f) {
			p.errorf(path, "a feature name of letters, digits, '_', '.' or '-' (like docker or base_setup)", "%s", quoteShort(f))
			return
		}
		if !slices.Contains(c.Named, f) {
			c.Named = append(c.Named, f)
		}
		return
	}
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	switch {
	case !slices.Contains(pctFeatureKeys, key):
		p.errorf(path, "a pct feature ("+strings.Join(pctFeatureKeys, ", ")+") as key=value, or a feature name",
			"%s", quoteShort(f))
		return
	case key == "mount":
		if !mountTypes.MatchString(val) {
			p.errorf(path, `mount=<fs>[;<fs>...] such as "mount=nfs;cifs"`, "%s", quoteShort(f))
			return
		}
	case val != "0" && val != "1":
		p.errorf(path, key+"=0 or "+key+"=1", "%s", quoteShort(f))
		return
	}
	if c.PctFeatures == nil {
		c.PctFeatures = map[string]string{}
	}
	c.PctFeatures[key] = val
}

// checkHookArgs reports hook_args entries that use a ${NAME} outside
// HookVars or an unterminated "${".
func checkHookArgs(p problems, path string, args []any) {
	for i, v := range args {
		a, _ := v.(string) // other types: the schema reports them
		rest := a
		for {
			start := strings.Index(rest, "${")
			if start < 0 {
				break
			}
			end := strings.IndexByte(rest[start:], '}')
			if end < 0 {
				p.errorf(fmt.Sprintf("%s/%d", path, i), `"${NAME}" closed with "}"`, "%s", quoteShort(a))
				break
			}
			name := rest[start+2 : start+end]
			if !slices.Contains(HookVars, name) {
				p.errorf(fmt.Sprintf("%s/%d", path, i),
					"one of the hook variables "+strings.Join(HookVars, ", "),
					"unknown variable ${%s} in %s", name, quoteShort(a))
			}
			rest = rest[start+end+1:]
		}
	}
}
