package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

// bashCheckTimeout bounds one `bash -n`.
const bashCheckTimeout = 10 * time.Second

// Validate checks every container's hook and the other files of the hooks
// dir it will run without running anything (see checkContainer), plus a
// shell hook that is not executable and hook files of no container
// (warnings). hook_args variables are checked by the config.
func Validate(dir string, cfg *engine.Config) []engine.Problem {
	names := dirNames(dir)
	var out []engine.Problem
	seen := map[engine.Problem]bool{}
	for _, id := range sortedCTIDs(cfg) {
		info := describe(dir, id)
		if info.State == engine.HookNotExecutable {
			out = append(out, engine.Problem{File: info.Path, Warning: true,
				Expected: "an executable file (run chmod +x " + info.Path + ")", Found: "not executable: its container fails at the hook stage"})
		}
		for _, p := range checkContainer(dir, cfg.Containers[id], info, names) {
			// A feature hook shared by containers is one mistake, said once.
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
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

// CheckHook checks the files ct's run will run before the run changes
// anything (it implements engine.HookChecker): errors for what would fail
// them (see checkContainer), warnings for a file named nearly as one.
func (r *Runner) CheckHook(ct *engine.Container) (warnings []string, err error) {
	r.namesOnce.Do(func() { r.names = dirNames(r.o.Dir) })
	var errs []error
	for _, p := range checkContainer(r.o.Dir, ct, r.Describe(ct), r.names) {
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

// checkContainer finds what would make a file that ct's run runs fail,
// without running it — its per-CTID hook (info), its feature hooks, its
// application script, its health check's host script: two hooks for one
// container, a Lua file that does not compile or reads a global that is
// neither the sandbox's nor its own (undefined: pct_exe (did you mean
// pct_exec?)), a shell file that `bash -n` rejects; and, as warnings,
// files in the hooks dir (names) named nearly as one of them, which are
// not run. This is the one check of validate, plan and run. A missing
// file is not its business: ValidateFiles and the run say so.
func checkContainer(dir string, ct *engine.Container, info engine.HookInfo, names []string) []engine.Problem {
	out := nearNames(dir, ct, names)
	switch info.Kind {
	case "":
	case KindBoth:
		out = append(out, engine.Problem{
			File:     HookPath(dir, ct.CTID, engine.HookShell),
			Expected: "one hook per container, .lua or .sh (remove one)",
			Found:    "both " + info.Path,
		})
	default:
		out = append(out, checkFile(info)...)
	}
	for _, f := range engine.OtherFeatures(ct) {
		base := engine.FeatureHookName(f)
		lua, sh := describeFile(dir, base+".lua"), describeFile(dir, base+".sh")
		if lua.Kind != "" && sh.Kind != "" {
			continue // two hooks of one feature: ValidateFiles and the run say so
		}
		out = append(out, checkFile(lua)...)
		out = append(out, checkFile(sh)...)
	}
	if name := ct.Later.ApplicationScript; name != "" {
		out = append(out, checkFile(describeFile(dir, name))...)
	}
	if hc := ct.Later.HealthCheck; hc != nil {
		if rel, _, ok := engine.HealthScript(hc.Command, dir); ok {
			if path := filepath.Join(dir, rel); isShellScript(path) {
				out = append(out, validateShell(path)...)
			}
		}
	}
	return out
}

// checkFile checks a Lua or shell file of the hooks dir; one that is not
// there has nothing to check.
func checkFile(info engine.HookInfo) []engine.Problem {
	switch info.Kind {
	case engine.HookLua:
		return validateLua(info.Path)
	case engine.HookShell:
		return validateShell(info.Path)
	}
	return nil
}

// isShellScript reports whether the host script at path is a shell
// script bash can check: named .sh or .bash, or a #! line naming sh or
// bash. Another interpreter's script is not checked.
func isShellScript(path string) bool {
	if _, ok := regularFile(path); !ok {
		return false
	}
	if ext := filepath.Ext(path); ext == ".sh" || ext == ".bash" {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := f.Read(head)
	first, _, _ := strings.Cut(string(head[:n]), "\n")
	if !strings.HasPrefix(first, "#!") {
		return false
	}
	fields := strings.Fields(strings.TrimPrefix(first, "#!"))
	for _, w := range fields {
		if b := filepath.Base(w); b == "sh" || b == "bash" {
			return true
		}
	}
	return false
}

// dirNames lists the hooks dir's file names; nil when it cannot be read
// (the caller says so elsewhere).
func dirNames(dir string) []string {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(des))
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// wanted is a file a container's run looks for in the hooks dir: stem
// plus one of exts.
type wanted struct {
	what     string   // "the hook of container 902", for the warning
	stem     string   // the file name without its extension
	exts     []string // the extensions it may have
	prefixes []string // the words nameKey drops after phoenix_hypervisor_
}

// wantedFiles are the files ct's run looks for: its per-CTID hook, each
// feature's hook, its application script.
func wantedFiles(ct *engine.Container) []wanted {
	out := []wanted{{what: fmt.Sprintf("the hook of container %d", ct.CTID), stem: hookPrefix + strconv.Itoa(ct.CTID),
		exts: []string{".lua", ".sh"}, prefixes: []string{"setup"}}}
	for _, f := range engine.OtherFeatures(ct) {
		out = append(out, wanted{what: fmt.Sprintf("the hook of feature %s (container %d)", f, ct.CTID), stem: engine.FeatureHookName(f),
			exts: []string{".lua", ".sh"}, prefixes: []string{"feature", "install"}})
	}
	if name := ct.Later.ApplicationScript; name != "" {
		ext := filepath.Ext(name)
		out = append(out, wanted{what: fmt.Sprintf("the application script of container %d", ct.CTID), stem: strings.TrimSuffix(name, ext), exts: []string{ext}})
	}
	return out
}

// nameKey folds a file name's stem to what makes two names near: case,
// '-', '_' and '.' dropped, and the optional words of the expected name
// (phoenix_hypervisor_, then prefixes in order) left out, so that
// setup-902, phoenix_hypervisor_setup902 and 902 all read as 902.
func nameKey(stem string, prefixes []string) string {
	k := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' {
			return -1
		}
		return r
	}, strings.ToLower(stem))
	k = strings.TrimPrefix(k, "phoenixhypervisor")
	for _, p := range prefixes {
		k = strings.TrimPrefix(k, p)
	}
	return k
}

// hookExt splits a file name into its stem and the extension class a hook
// may have (.lua, .sh; .bash reads as .sh; "" for none); ok is false for
// any other extension (README.md, notes.txt are no hook).
func hookExt(name string) (stem, class string, ok bool) {
	ext := filepath.Ext(name)
	switch strings.ToLower(ext) {
	case ".lua":
		return strings.TrimSuffix(name, ext), ".lua", true
	case ".sh", ".bash":
		return strings.TrimSuffix(name, ext), ".sh", true
	case "":
		return name, "", true
	}
	return "", "", false
}

// nearNames finds files of the hooks dir dir (names) named nearly as one
// that ct's run looks for (wantedFiles) but not exactly: another case
// (.LUA), '-' for '_', .bash for .sh, no extension, a word of the name
// left out (setup-902.lua, 902.lua, _web.lua). They are not run, which is
// rarely what was meant. Hook tests (*_test.lua) and files of other
// extensions are never near.
func nearNames(dir string, ct *engine.Container, names []string) []engine.Problem {
	files := wantedFiles(ct)
	exact := map[string]bool{}
	for _, w := range files {
		for _, e := range w.exts {
			exact[w.stem+e] = true
		}
	}
	var out []engine.Problem
	for _, n := range names {
		if exact[n] || strings.HasSuffix(strings.ToLower(n), "_test.lua") {
			continue
		}
		stem, class, ok := hookExt(n)
		if !ok {
			continue
		}
		for _, w := range files {
			key := nameKey(w.stem, w.prefixes)
			if key == "" || nameKey(stem, w.prefixes) != key {
				continue
			}
			var expect []string
			for _, e := range w.exts {
				if _, c, _ := hookExt(e); class == "" || c == class {
					expect = append(expect, w.stem+e)
				}
			}
			if len(expect) == 0 {
				continue
			}
			out = append(out, engine.Problem{File: filepath.Join(dir, n), Warning: true,
				Found: fmt.Sprintf("not run: %s must be named %s (rename it)", w.what, strings.Join(expect, " or "))})
			break
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
		// bash follows "syntax error near unexpected token" with the line
		// it read, quoted: part of the one error, not another.
		if last := len(probs) - 1; last >= 0 && strings.HasPrefix(p.Found, "`") && p.Path == probs[last].Path {
			probs[last].Found += ": " + p.Found
			continue
		}
		probs = append(probs, p)
	}
	if len(probs) == 0 {
		probs = append(probs, engine.Problem{File: path, Expected: "valid bash syntax (bash -n)", Found: err.Error()})
	}
	return probs
}
