package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

// compileLua checks a Lua hook's syntax (a variable for tests).
var compileLua = luaapi.Compile

// bashCheckTimeout bounds one `bash -n`.
const bashCheckTimeout = 10 * time.Second

// Validate checks every container's hook without running anything: Lua
// hooks compile, shell hooks parse (`bash -n`), two hooks for one container
// (an error), a shell hook that is not executable and hook files of no
// container (warnings). hook_args variables are checked by the config.
func Validate(dir string, cfg *engine.Config) []engine.Problem {
	ctids := make([]int, 0, len(cfg.Containers))
	for id := range cfg.Containers {
		ctids = append(ctids, id)
	}
	sort.Ints(ctids)
	var out []engine.Problem
	for _, id := range ctids {
		out = append(out, validateHook(dir, id)...)
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

func validateHook(dir string, ctid int) []engine.Problem {
	info := describe(dir, ctid)
	switch info.Kind {
	case "":
		return nil
	case KindBoth:
		return []engine.Problem{{
			File:     HookPath(dir, ctid, engine.HookShell),
			Expected: "one hook per container, .lua or .sh (remove one)",
			Found:    "both " + info.Path,
		}}
	case engine.HookLua:
		return validateLua(info.Path)
	}
	var out []engine.Problem
	if info.State == engine.HookNotExecutable {
		out = append(out, engine.Problem{File: info.Path, Warning: true,
			Expected: "an executable file (run chmod +x " + info.Path + ")", Found: "not executable: it will not run"})
	}
	return append(out, validateShell(info.Path)...)
}

func validateLua(path string) []engine.Problem {
	src, err := os.ReadFile(path)
	if err != nil {
		return []engine.Problem{{File: path, Expected: "a readable hook", Found: err.Error()}}
	}
	err = compileLua(path, src)
	if err == nil {
		return nil
	}
	p := engine.Problem{File: path, Expected: "a Lua hook that compiles", Found: err.Error()}
	var he *luaapi.HookError
	if errors.As(err, &he) {
		p.Found = he.Message
		if he.Line > 0 {
			p.Path = fmt.Sprintf("line %d", he.Line)
		}
	}
	return []engine.Problem{p}
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
