package hooks

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

var _ engine.FileHooks = (*Runner)(nil)

// DescribeFile finds a feature hook or application script by name in the
// hooks dir: Kind from its extension (.lua, else shell), "" when absent.
func (r *Runner) DescribeFile(name string) engine.HookInfo { return describeFile(r.o.Dir, name) }

func describeFile(dir, name string) engine.HookInfo {
	if name != filepath.Base(name) {
		return engine.HookInfo{} // a name, never a path out of the hooks dir
	}
	path := filepath.Join(dir, name)
	if _, ok := regularFile(path); !ok {
		return engine.HookInfo{}
	}
	kind := engine.HookShell
	if strings.HasSuffix(name, ".lua") {
		kind = engine.HookLua
	}
	return withDigest(engine.HookInfo{Kind: kind, Path: path, State: engine.HookReady})
}

// RunLuaFile runs the Lua file at path as req.Container's hook.
func (r *Runner) RunLuaFile(ctx context.Context, req engine.HookRequest, path string) error {
	return runLua(ctx, req, path)
}

// ValidateFiles checks what the containers of cfg name in the hooks dir
// besides their hook: a missing application_script is an error (the
// container would fail), as is a health check's host script that is
// missing or not executable; a feature with neither a built-in stage nor
// a feature hook a warning, both a .lua and a .sh hook of one feature an
// error. With strict (--strict, PHOENIX_STRICT=1) a feature nothing
// applies is an error too, as it is for plan and run.
func ValidateFiles(dir string, cfg *engine.Config, strict bool) []engine.Problem {
	r := NewRunner(Options{Dir: dir})
	var out []engine.Problem
	for _, id := range sortedCTIDs(cfg) {
		ct := cfg.Containers[id]
		at := fmt.Sprintf("/lxc_configs/%d", id)
		if name := ct.Later.ApplicationScript; name != "" && r.DescribeFile(name).Kind == "" {
			out = append(out, engine.Problem{File: cfg.LXCFile, Path: at + "/application_script",
				Expected: "a file in the hooks dir " + dir, Found: name + " is not there: container " + fmt.Sprint(id) + " fails"})
		}
		if hc := ct.Later.HealthCheck; hc != nil {
			if rel, _, ok := engine.HealthScript(hc.Command, dir); ok {
				if err := engine.CheckHostScript(filepath.Join(dir, rel), dir); err != nil {
					out = append(out, engine.Problem{File: cfg.LXCFile, Path: at + "/health_check/command",
						Expected: "an executable host script in the hooks dir " + dir, Found: err.Error() + ": container " + fmt.Sprint(id) + " fails"})
				}
			}
		}
		for _, f := range engine.OtherFeatures(ct) {
			base := engine.FeatureHookName(f)
			if r.DescribeFile(base+".lua").Kind != "" && r.DescribeFile(base+".sh").Kind != "" {
				out = append(out, engine.Problem{File: dir, Path: base, Expected: "one feature hook, .lua or .sh", Found: "both: keep one"})
			}
		}
		for _, f := range engine.MissingFeatureHooks(r, ct) {
			out = append(out, engine.Problem{File: cfg.LXCFile, Path: at + "/features", Warning: !strict, Found: engine.NoFeatureHook(f, strict)})
		}
	}
	return out
}

func sortedCTIDs(cfg *engine.Config) []int {
	ids := make([]int, 0, len(cfg.Containers))
	for id := range cfg.Containers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}
