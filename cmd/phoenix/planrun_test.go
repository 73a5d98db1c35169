package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
	"github.com/phoenix-hypervisor/phoenix/internal/reftest"
)

// TestPlanEqualsRunOnFakePct is issue 9's proof at the pct level: on the
// fake pct, through the real pct backend, the plan's "kind":"action" argv
// (`plan --output json`) are exactly the mutating pct calls the following
// `run` makes (the fake's calls.log), per container and in order. It
// covers examples/, examples/later and every reference config v04–v09 (their
// application scripts stubbed in a temp hooks dir), each on an empty host,
// then the host that run converged, then after one changed value (the
// first container's memory_mb). engine's TestPlanEqualsApply checks the
// same promise on the in-process fake over many more host states; this
// one checks that the calls the pct backend really sends (the env file's
// push, the wrapped exec) are the plan's.
//
// Two things of a run's call cannot be in the plan, and only they are
// normalised: pct push's source (a temporary file on the host, the plan's
// "<content>") and the env file's random name (pve.EnvFilePlaceholder).
func TestPlanEqualsRunOnFakePct(t *testing.T) {
	cases := 0
	for _, c := range planRunConfigs(t) {
		t.Run(c.name, func(t *testing.T) {
			state := fakeHost(t)
			lxc := filepath.Join(t.TempDir(), "phoenix_lxc_configs.json")
			data, err := os.ReadFile(c.lxc)
			require.NoError(t, err)
			data, err = reftest.ClonesInherit(data)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(lxc, data, 0o644))
			dir := t.TempDir()
			vars := map[string]string{
				"PHOENIX_HYPERVISOR_CONFIG": c.hv,
				"PHOENIX_LXC_CONFIG":        lxc,
				"PHOENIX_HOOKS_DIR":         c.hooks,
				"PHOENIX_LOG_FILE":          filepath.Join(dir, "phoenix.log"),
				"PHOENIX_LOCK_FILE":         filepath.Join(dir, "phoenix.lock"),
			}
			for _, sc := range []string{"empty", "converged", "changed"} {
				if sc == "changed" {
					require.NoError(t, os.WriteFile(lxc, changeMemory(t, data), 0o644))
				}
				checkPlanRun(t, sc, state, vars)
				cases++
			}
		})
	}
	t.Logf("plan = run on the fake pct: %d cases, %d pct calls compared", cases, compared.Load())
}

// compared counts the pct calls checked (the test's figure).
var compared atomic.Int64

type planRunConfig struct{ name, hv, lxc, hooks string }

// planRunConfigs are the examples and the reference configs, with a hooks
// dir each: the examples' own, else stubs of the application scripts a
// reference config names (the configs' own scripts are not in the repo).
func planRunConfigs(t *testing.T) []planRunConfig {
	t.Helper()
	ex := examplesDir(t)
	out := []planRunConfig{
		{"examples", filepath.Join(ex, "phoenix_hypervisor_config.json"), filepath.Join(ex, "phoenix_lxc_configs.json"), ex},
		{"examples-later", "", filepath.Join(ex, "later", "phoenix_lxc_configs.json"), filepath.Join(ex, "later")},
	}
	dirs, err := filepath.Glob(filepath.Join("..", "..", "engine", "config", "testdata", "original-configs", "v0[4-9]*"))
	require.NoError(t, err)
	require.Len(t, dirs, 6, "v04..v09")
	for _, d := range dirs {
		lxc := filepath.Join(d, "phoenix_lxc_configs.json")
		hv := filepath.Join(d, "phoenix_hypervisor_config.json")
		if _, err := os.Stat(hv); err != nil {
			hv = ""
		}
		hooks := t.TempDir()
		data, err := os.ReadFile(lxc)
		require.NoError(t, err)
		for _, m := range appScriptRE.FindAllSubmatch(data, -1) {
			require.NoError(t, os.WriteFile(filepath.Join(hooks, string(m[1])), []byte("#!/bin/bash\necho stub\n"), 0o755))
		}
		out = append(out, planRunConfig{filepath.Base(d)[:3], hv, lxc, hooks})
	}
	return out
}

var appScriptRE = regexp.MustCompile(`"application_script"\s*:\s*"([^"/]+)"`)

// changeMemory is the lxc config with the lowest CTID's memory_mb raised.
func changeMemory(t *testing.T, data []byte) []byte {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	cts, ok := doc["lxc_configs"].(map[string]any)
	require.True(t, ok, "lxc_configs")
	first := ""
	for id := range cts {
		if first == "" || id < first {
			first = id
		}
	}
	ct := cts[first].(map[string]any)
	mem, _ := ct["memory_mb"].(float64)
	ct["memory_mb"] = mem + 256
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

// checkPlanRun plans, runs, and compares: the run's reported actions
// (`run --output json`) with the calls the fake pct got, exactly; and the
// plan's actions with the run's (planCovers).
func checkPlanRun(t *testing.T, sc, state string, vars map[string]string) {
	t.Helper()
	getenv := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return os.Getenv(k) // the fake host's, set by fakeHost
	}
	var plan, runOut, stderr bytes.Buffer
	code := run(context.Background(), []string{"phoenix", "plan", "--output", "json"}, Env{Stdout: &plan, Stderr: &stderr, Getenv: getenv})
	require.Contains(t, []int{0, 1}, code, "%s: plan: %s", sc, stderr.String())
	before, err := readCalls(filepath.Join(state, "calls.log"))
	require.NoError(t, err)
	run(context.Background(), []string{"phoenix", "run", "--output", "json"}, Env{Stdout: &runOut, Stderr: &stderr, Getenv: getenv})
	after, err := readCalls(filepath.Join(state, "calls.log"))
	require.NoError(t, err)

	planned, _ := actionsByCT(t, plan.String())
	reported, failed := actionsByCT(t, runOut.String())
	sent := map[string][]string{}
	probe := map[string]bool{} // calls that may be a stage's probe (cat FILE, docker info, ...)
	for _, c := range after[len(before):] {
		if isSent(c) {
			cmd := strings.Join(normCall(c), " ")
			sent[callCT(c)] = append(sent[callCT(c)], cmd)
			probe[cmd] = !isMutating(c)
		}
	}
	n := 0
	for _, c := range sent {
		n += len(c)
	}
	if sc == "empty" {
		require.NotZero(t, n, "a run on an empty host sends pct calls")
	}
	compared.Add(int64(n))
	for _, id := range unionKeys(keys(reported), keys(sent)) {
		// A shell hook runs pct itself, unobserved: what the run reports
		// is a part, in order, of what pct got.
		if d := subsequence(cmdsOf(reported[id]), sent[id]); d != "" {
			t.Errorf("%s: container %s: the run reports %q, which pct did not get\nreported:\n  %s\nsent to pct:\n  %s", sc, id, d, actionLines(reported[id]), strings.Join(sent[id], "\n  "))
		}
	}
	for _, id := range unionKeys(keys(planned), keys(sent)) {
		if d := planCovers(planned[id], sent[id], probe, failed[id]); d != "" {
			t.Errorf("%s: container %s: %s\nplan:\n  %s\nsent to pct:\n  %s", sc, id, d, actionLines(planned[id]), strings.Join(sent[id], "\n  "))
		}
	}
	if t.Failed() {
		t.Logf("%s: run stderr:\n%s", sc, stderr.String())
	}
}

// action is one "kind":"action" event of --output json.
type action struct{ cmd, source, note string }

// actionsByCT reads the pct calls of a JSON event stream per container,
// and which containers' results failed.
func actionsByCT(t *testing.T, stream string) (map[string][]action, map[string]bool) {
	t.Helper()
	out, failed := map[string][]action{}, map[string]bool{}
	for _, line := range strings.Split(stream, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e struct {
			Kind   string   `json:"kind"`
			CTID   int      `json:"ctid"`
			State  string   `json:"state"`
			Argv   []string `json:"argv"`
			Source string   `json:"source"`
			Note   string   `json:"note"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &e), line)
		switch {
		case e.Kind == "result" && e.State == engine.StageFailed:
			failed[fmt.Sprint(e.CTID)] = true
		case e.Kind == "action" && len(e.Argv) > 0 && !strings.HasPrefix(e.Argv[0], "# "):
			id := callCT(e.Argv)
			out[id] = append(out[id], action{strings.Join(normCall(e.Argv), " "), e.Source, e.Note})
		}
	}
	return out, failed
}

// subsequence is the first of part not found, in order, in whole; "" when
// all are.
func subsequence(part, whole []string) string {
	j := 0
	for _, p := range part {
		for j < len(whole) && whole[j] != p {
			j++
		}
		if j == len(whole) {
			return p
		}
		j++
	}
	return ""
}

// planCovers compares a container's planned calls with those pct got:
// equal, in order, except where the plan says it cannot know. A planned
// call in a container the plan could not look inside
// (engine.NoteInsideUnknown) may be one the run finds done. A hook whose
// command output the plan could not know (engine.NoteKnownAfterRun) may
// branch on it otherwise in the run: the rest of that hook's planned calls
// are known after run, and the comparison picks up again at the plan's
// next call after them; when the run's container failed there, it makes
// none of the plan's later calls. A call that may be a probe (isMutating:
// a single `cat FILE`, `docker info`, ...: a stage reading, which the plan
// answers itself) counts only where the plan lists it.
func planCovers(plan []action, sent []string, probe map[string]bool, failed bool) string {
	unknown := map[string]bool{} // hook files whose output the plan did not know
	i, j := 0, 0
	for i < len(plan) || j < len(sent) {
		switch {
		case i < len(plan) && j < len(sent) && plan[i].cmd == sent[j]:
			if plan[i].note == engine.NoteKnownAfterRun {
				unknown[hookFile(plan[i].source)] = true
			}
			i, j = i+1, j+1
			continue
		case i < len(plan) && plan[i].note == engine.NoteInsideUnknown:
			i++
			continue
		case j < len(sent) && probe[sent[j]]:
			j++
			continue
		case i < len(plan) && unknown[hookFile(plan[i].source)]:
		case i == len(plan) && len(unknown) > 0 && failed:
			return "" // the run stopped where the plan could not know
		default:
			return diffCalls(cmdsOf(plan[i:]), sent[j:])
		}
		for f := hookFile(plan[i].source); i < len(plan) && hookFile(plan[i].source) == f; i++ {
		}
		for i < len(plan) && j < len(sent) && sent[j] != plan[i].cmd {
			j++
		}
		if i == len(plan) && !failed {
			j = len(sent) // the hook was the container's last step
		}
	}
	return ""
}

// hookFile is the file of a hook source ("x.lua:12" is x.lua); "" for a
// built-in stage, which is never known after run.
func hookFile(source string) string {
	if k := strings.LastIndex(source, ":"); k > 0 {
		return source[:k]
	}
	return source
}

func cmdsOf(as []action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.cmd
	}
	return out
}

func actionLines(as []action) string {
	var out []string
	for _, a := range as {
		line := a.cmd
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		if a.source != "" {
			line += "    # " + a.source
		}
		if a.note != "" {
			line += " (" + a.note + ")"
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n  ")
}

// isSent reports whether a pct call is one a plan lists: not a read, not a
// probe batch (pve.ProbeScript), which the plan answers itself.
func isSent(argv []string) bool {
	switch argv[0] {
	case "status", "config", "list", "listsnapshot":
		return false
	case "exec":
		return !(len(argv) == 6 && argv[3] == "sh" && argv[4] == "-c" && isProbeBatch(argv[5]))
	}
	return true
}

func isProbeBatch(script string) bool {
	_, ok := pve.ProbesOf(script)
	return ok
}

// normCall is a call as the plan can know it: push's host source is
// "<content>", the env file's random name the placeholder.
func normCall(argv []string) []string {
	out := pve.NormalizeEnvFile(argv)
	if out[0] == "push" && len(out) > 2 {
		out[2] = "<content>"
	}
	return out
}

// callCT is the container a call is about: the new one of a clone.
func callCT(argv []string) string {
	if argv[0] == "clone" && len(argv) > 2 {
		return argv[2]
	}
	if len(argv) > 1 {
		return argv[1]
	}
	return "-"
}

func diffCalls(plan, run []string) string {
	for i := 0; i < len(plan) || i < len(run); i++ {
		switch {
		case i >= len(plan):
			return fmt.Sprintf("call %d: the run makes %q, the plan lists nothing", i+1, run[i])
		case i >= len(run):
			return fmt.Sprintf("call %d: the plan lists %q, the run makes nothing", i+1, plan[i])
		case plan[i] != run[i]:
			return fmt.Sprintf("call %d: plan %q, run %q", i+1, plan[i], run[i])
		}
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func unionKeys(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, k := range l {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
