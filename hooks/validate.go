package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

// bashCheckTimeout bounds one `bash -n`.
const bashCheckTimeout = 10 * time.Second

// Validate checks every container's hook without running anything (see
// checkContainer), plus a shell hook that is not executable and hook files
// of no container (warnings). hook_args variables are checked by the config.
func Validate(dir string, cfg *engine.Config) []engine.Problem {
	ctids := make([]int, 0, len(cfg.Containers))
	for id := range cfg.Containers {
		ctids = append(ctids, id)
	}
	sort.Ints(ctids)
	names := dirNames(dir)
	var out []engine.Problem
	for _, id := range ctids {
		info := describe(dir, id)
		if info.State == engine.HookNotExecutable {
			out = append(out, engine.Problem{File: info.Path, Warning: true,
				Expected: "an executable file (run chmod +x " + info.Path + ")", Found: "not executable: its container fails at the hook stage"})
		}
		out = append(out, checkContainer(dir, id, info, names)...)
	}
	orph, err := orphans(dir, cfg)
	if err != nil {
		out = append(out, engine.Problem{File: dir, Expected: "a readable hooks dir", Found: err.Error()})
	}
	for _, o := range orph {
		out = append(out, engine.Problem{
			File: o.Path, Warning: true,
			Expected: "a container " + fmt.Sprint(o.CTID) + " in " + orDefault(cfg.LXCFile, "the LXC config"),
			Found:    "none: this hook never runs (remove or rename it)",
		})
	}
	return out
}

// CheckHook checks ct's hook before a run changes anything (it implements
// engine.HookChecker): errors for what would fail the hook (see
// checkContainer), warnings for a file named nearly as the hook.
func (r *Runner) CheckHook(ct *engine.Container) (warnings []string, err error) {
	r.namesOnce.Do(func() { r.names = dirNames(r.o.Dir) })
	var errs []error
	for _, p := range checkContainer(r.o.Dir, ct.CTID, r.Describe(ct), r.names) {
		if p.Warning {
			warnings = append(warnings, problemText(p))
		} else {
			errs = append(errs, errors.New(problemText(p)))
		}
	}
	return warnings, errors.Join(errs...)
}

// problemText is a hook problem as one line that names the file once:
// "hook FILE:LINE: what".
func problemText(p engine.Problem) string {
	if n, ok := strings.CutPrefix(p.Path, "line "); ok {
		return "hook " + p.File + ":" + n + ": " + p.Found
	}
	if p.Expected != "" {
		return "hook " + p.File + ": " + p.Found + ": expected " + p.Expected
	}
	return "hook " + p.File + ": " + p.Found
}

// checkContainer finds what would make ctid's hook fail, without running
// it: two hooks for one container, a Lua hook that does not compile or
// reads a global that is neither the sandbox's nor its own (undefined:
// pct_exe (did you mean pct_exec?)), a shell hook that `bash -n` rejects;
// and, as warnings, files in the hooks dir (names) named nearly as the
// hook, which are not run.
func checkContainer(dir string, ctid int, info engine.HookInfo, names map[string][]string) []engine.Problem {
	out := nearNames(dir, ctid, names)
	switch info.Kind {
	case "":
		return out
	case KindBoth:
		return append(out, engine.Problem{
			File:     HookPath(dir, ctid, engine.HookShell),
			Expected: "one hook per container, .lua or .sh (remove one)",
			Found:    "both " + info.Path,
		})
	case engine.HookLua:
		return append(out, validateLua(info.Path)...)
	}
	return append(out, validateShell(info.Path)...)
}

// dirNames indexes the hooks dir's file names by their normal form (see
// normalName); nil when it cannot be read (the caller says so elsewhere).
func dirNames(dir string) map[string][]string {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := map[string][]string{}
	for _, de := range des {
		n := normalName(de.Name())
		names[n] = append(names[n], de.Name())
	}
	return names
}

// normalName folds what makes a name near a hook's: case, '-' for '_',
// .bash for .sh.
func normalName(n string) string {
	norm := strings.ReplaceAll(strings.ToLower(n), "-", "_")
	if base, ok := strings.CutSuffix(norm, ".bash"); ok {
		norm = base + ".sh"
	}
	return norm
}

// nearNames finds files named nearly as ctid's hook: another case
// (.LUA), '-' for '_', .bash for .sh. They are not run, which is rarely
// what was meant.
func nearNames(dir string, ctid int, names map[string][]string) []engine.Problem {
	var out []engine.Problem
	for _, kind := range []string{engine.HookLua, engine.HookShell} {
		expected := filepath.Base(HookPath(dir, ctid, kind))
		for _, n := range names[expected] {
			if n != expected {
				out = append(out, engine.Problem{File: filepath.Join(dir, n), Warning: true,
					Found: fmt.Sprintf("not run: the hook of container %d must be named %s (rename it)", ctid, expected)})
			}
		}
	}
	return out
}

func validateLua(path string) []engine.Problem {
	src, err := os.ReadFile(path)
	if err != nil {
		return []engine.Problem{{File: path, Expected: "a readable hook", Found: err.Error()}}
	}
	var out []engine.Problem
	for _, he := range luaapi.Check(path, src) {
		p := engine.Problem{File: path, Expected: "a Lua hook that compiles and uses only names it or the sandbox defines", Found: he.Message}
		if he.Line > 0 {
			p.Path = fmt.Sprintf("line %d", he.Line)
		}
		out = append(out, p)
	}
	return out
}

var bashLineRE = regexp.MustCompile(`: line ([0-9]+): (.*)$`)

// validateShell parses the hook with `bash -n`.
func validateShell(path string) []engine.Problem {
	bash, err := exec.LookPath("bash")
	if err != nil {
		return []engine.Problem{{File: path, Warning: true, Expected: "bash on PATH to check the hook's syntax", Found: "no bash: not checked"}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), bashCheckTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bash, "-n", path).CombinedOutput()
	if err == nil {
		return nil
	}
	var probs []engine.Problem
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		p := engine.Problem{File: path, Expected: "valid bash syntax (bash -n)", Found: line}
		if m := bashLineRE.FindStringSubmatch(line); m != nil {
			p.Path, p.Found = "line "+m[1], m[2]
		}
		probs = append(probs, p)
	}
	if len(probs) == 0 {
		probs = append(probs, engine.Problem{File: path, Expected: "valid bash syntax (bash -n)", Found: err.Error()})
	}
	return probs
}
