package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/phoenix-hypervisor/phoenix/hooks"
	"github.com/phoenix-hypervisor/phoenix/internal/cgrouptest"
	"github.com/phoenix-hypervisor/phoenix/internal/fakepct"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

// The test binary plays three programs, by the base name of argv[0]:
//
//   - "phoenix": the command itself (testscript puts a copy on PATH, and
//     the Go tests re-exec the binary under that name);
//   - "pct" outside a hook's shim: the fake pct of internal/fakepct, with its
//     state in $FAKE_PCT_STATE. Tests put it on PATH by prepending
//     $FAKEBIN, a directory holding a "pct" symlink to this binary;
//   - pct, qm, ... inside a shimmed hook (shimSocketEnv set), and the other
//     names hooks.IsShim knows: the shim, as the real binary's main does;
//   - with luaapi.WorkerEnv set, whatever its name: a Lua hook worker.
//
// Without $FAKEBIN on PATH there is no pct at all: the "pct missing" case.
func TestMain(m *testing.M) {
	name := filepath.Base(os.Args[0])
	if name == "pct" && os.Getenv(shimSocketEnv) == "" {
		os.Exit(fakepct.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if hooks.IsShim(name) {
		os.Exit(hooks.ShimMain(os.Args))
	}
	if luaapi.IsWorker() {
		os.Exit(luaapi.WorkerMain())
	}
	testscript.Main(m, map[string]func(){
		"phoenix": func() { os.Exit(mainExit()) },
	})
}

// shimSocketEnv is set by the hooks package for a hook whose pct is the
// shim (dry-run, non-pct backends).
const shimSocketEnv = "PHOENIX_SHIM_SOCKET"

// examplesDir is the bundled example deployment.
func examplesDir(t testing.TB) string {
	dir, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// phoenixBin is the directory of PATH where testscript put the phoenix
// command.
func phoenixBin(path string) string {
	for _, d := range filepath.SplitList(path) {
		if _, err := os.Stat(filepath.Join(d, "phoenix")); err == nil {
			return d
		}
	}
	return ""
}

// fakeBin makes dir/pct, a symlink to this test binary, so that "pct"
// on PATH is the fake.
func fakeBin(dir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "fakebin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	return bin, os.Symlink(exe, filepath.Join(bin, "pct"))
}

func TestScripts(t *testing.T) {
	examples := examplesDir(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			bin, err := fakeBin(e.WorkDir)
			if err != nil {
				return err
			}
			e.Setenv("FAKEBIN", bin)
			// PHOENIXBIN holds only the phoenix command: a script's PATH
			// can lack every outside tool and still run phoenix.
			e.Setenv("PHOENIXBIN", phoenixBin(e.Getenv("PATH")))
			e.Setenv("EXAMPLES", examples)
			// The reference configs of every era (read-only).
			e.Setenv("REFCONFIGS", filepath.Join(filepath.Dir(examples), "engine", "config", "testdata", "original-configs"))
			e.Setenv("FAKE_PCT_STATE", filepath.Join(e.WorkDir, "pct-state"))
			// Never the machine's /var/log, /run/lock or /usr/local paths.
			e.Setenv("PHOENIX_LOG_FILE", filepath.Join(e.WorkDir, "phoenix.log"))
			e.Setenv("PHOENIX_LOCK_FILE", filepath.Join(e.WorkDir, "phoenix.lock"))
			e.Setenv("PHOENIX_HYPERVISOR_CONFIG", filepath.Join(examples, "phoenix_hypervisor_config.json"))
			e.Setenv("PHOENIX_LXC_CONFIG", filepath.Join(examples, "phoenix_lxc_configs.json"))
			e.Setenv("PHOENIX_HOOKS_DIR", examples)
			// The fake pct keeps each container's conf under <state>/pve,
			// where raw lines and firewall files are then written.
			e.Setenv("PHOENIX_PVE_DIR", filepath.Join(e.WorkDir, "pct-state", "pve"))
			// Bind mounts' host directories go here, never to the machine's.
			e.Setenv("PHOENIX_HOST_ROOT", filepath.Join(e.WorkDir, "hostroot"))
			// The hooks' cgroups: one dir per script (scripts run at once).
			cg, cleanup, err := cgrouptest.New()
			if err != nil {
				return err
			}
			e.Defer(cleanup)
			e.Setenv("PHOENIX_HOOK_CGROUP", cg)
			return newFakeState(filepath.Join(e.WorkDir, "pct-state"))
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":   cmdExitCode,
			"nomutating": cmdNoMutating,
			"jsonlines":  cmdJSONLines,
			"cmpcalls":   cmdCmpCalls,
		},
	})
}

// exitcode N prog args... runs prog and requires exit code N; stdout and
// stderr are kept for the commands that follow, as with exec.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N prog [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// nomutating CALLS_LOG fails when the fake pct's call log holds a call
// that changes anything (with !, when it holds none).
func cmdNoMutating(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: nomutating calls.log")
	}
	calls, err := readCalls(ts.MkAbs(args[0]))
	ts.Check(err)
	var mut []string
	for _, c := range calls {
		if isMutating(c) {
			mut = append(mut, strings.Join(c, " "))
		}
	}
	switch {
	case !neg && len(mut) > 0:
		ts.Fatalf("%d mutating pct call(s):\n%s", len(mut), strings.Join(mut, "\n"))
	case neg && len(mut) == 0:
		ts.Fatalf("no mutating pct call in %d call(s)", len(calls))
	}
}

// jsonlines FILE requires every line of FILE (stdout, stderr or a path)
// to be a JSON object with a "kind".
// cmdCmpCalls compares the mutating calls of calls.log, one per line and
// space-joined, with a file: `cmpcalls calls.log want.calls`.
func cmdCmpCalls(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cmpcalls calls.log FILE")
	}
	calls, err := readCalls(ts.MkAbs(args[0]))
	ts.Check(err)
	var got []string
	for _, c := range calls {
		if isMutating(c) {
			got = append(got, strings.Join(c, " "))
		}
	}
	want := strings.TrimSpace(ts.ReadFile(args[1]))
	if g := strings.Join(got, "\n"); g != want {
		ts.Fatalf("mutating calls:\n%s\nwant:\n%s", g, want)
	}
}

func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: jsonlines FILE")
	}
	text := strings.TrimSuffix(ts.ReadFile(args[0]), "\n")
	if text == "" {
		ts.Fatalf("%s is empty", args[0])
	}
	for i, line := range strings.Split(text, "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			ts.Fatalf("%s line %d: %v: %s", args[0], i+1, err, line)
		}
		if k, _ := m["kind"].(string); k == "" {
			ts.Fatalf("%s line %d: no kind: %s", args[0], i+1, line)
		}
	}
}

// newFakeState makes an empty fake host whose containers answer the
// example hooks' own checks (testdata/exec_rules.json: two GPUs with the
// configured driver, a running Portainer, vLLM serving the model).
func newFakeState(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rules, err := os.ReadFile(filepath.Join("testdata", "exec_rules.json"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "exec_rules.json"), rules, 0o644)
}

// readCalls reads the fake pct's calls.log: one JSON array of argv per line.
func readCalls(path string) ([][]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var calls [][]string
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var argv []string
		if err := json.Unmarshal([]byte(line), &argv); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		calls = append(calls, argv)
	}
	return calls, nil
}

// readOnlyVerbs never change a container.
var readOnlyVerbs = map[string]bool{"status": true, "config": true, "list": true, "listsnapshot": true}

// probes are the read-only checks the built-in stages run inside a
// container (`pct exec CTID -- ...`), by their leading words.
var probes = [][]string{
	{"true"},
	{"nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"},
	{"docker", "info"},
	{"docker", "inspect"},
	{"nvidia-ctk", "--version"},
	{"cat"}, // a marker, or the old content of a file the plan would push
}

// isMutating reports whether a pct call (argv without "pct") may change
// anything: every verb but the reads, and every exec but the probes.
func isMutating(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	if readOnlyVerbs[argv[0]] {
		return false
	}
	if argv[0] != "exec" {
		return true
	}
	cmd := argv
	for i, a := range argv {
		if a == "--" {
			cmd = argv[i+1:]
			break
		}
	}
	if len(cmd) == 3 && cmd[0] == "sh" && cmd[1] == "-c" {
		if batch, ok := pve.ProbesOf(cmd[2]); ok {
			// A probe batch is read-only when every probe in it is.
			for _, p := range batch {
				if isMutating(append([]string{"exec", "0", "--"}, p...)) {
					return true
				}
			}
			return false
		}
	}
	for _, p := range probes {
		if len(cmd) >= len(p) && hasPrefixWords(cmd, p) {
			return false
		}
	}
	return true
}

func hasPrefixWords(cmd, p []string) bool {
	for i := range p {
		if i == len(p)-1 && strings.HasSuffix(p[i], "/") {
			return strings.HasPrefix(cmd[i], p[i])
		}
		if cmd[i] != p[i] {
			return false
		}
	}
	return true
}
