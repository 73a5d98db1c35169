package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// testsHost is a host whose containers answer each integration test
// with exit 0 but for the test files named in failing; it counts the
// tests run per container.
func testsHost(t *testing.T, cfg *engine.Config, failing ...string) (*engine.Result, map[int]int, func(engine.RunOptions) *engine.Result) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(engine.TestsDir(dir), "t"), 0o755))
	for _, n := range []string{"ok.sh", "bad.sh"} {
		require.NoError(t, os.WriteFile(filepath.Join(engine.TestsDir(dir), "t", n), []byte("#!/bin/sh\n"), 0o755))
	}
	host := newHost()
	ran := map[int]int{}
	host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		if len(argv) == 2 && argv[0] == "bash" && strings.HasPrefix(argv[1], engine.RunDir+"/tests/") {
			ran[ctid]++
			for _, f := range failing {
				if strings.HasSuffix(argv[1], "/"+f) {
					return engine.ExecResult{Code: 1, Stdout: "checking\n", Stderr: "refused\n"}, true
				}
			}
			return engine.ExecResult{}, true
		}
		return engine.ExecResult{}, false
	}
	do := func(o engine.RunOptions) *engine.Result {
		o.Config, o.Backend, o.HooksDir, o.WithTests = cfg, host, dir, true
		return run(t, o)
	}
	return do(engine.RunOptions{}), ran, do
}

func withTests(ct *engine.Container, files ...string) *engine.Container {
	for _, f := range files {
		ct.Later.Tests = append(ct.Later.Tests, engine.IntegrationTest{Name: f, Type: "script", Path: "t/" + f})
	}
	return ct
}

// run --with-tests runs each requested container's tests after the
// deployment; a failing one is exit 1 with its last output lines.
func TestWithTestsRunsAfterTheDeployment(t *testing.T) {
	t.Parallel()
	a, b := healthContainer(960, "true"), healthContainer(961, "true")
	a.Later, b.Later = engine.Later{}, engine.Later{}
	cfg := oneConfig(withTests(a, "ok.sh"), withTests(b, "ok.sh", "bad.sh"))
	res, ran, _ := testsHost(t, cfg, "bad.sh")
	assert.Equal(t, engine.ExitFailed, res.ExitCode())
	assert.Equal(t, map[int]int{960: 1, 961: 2}, ran)
	var lines []string
	for _, o := range res.Tests {
		lines = append(lines, o.Line())
	}
	assert.Equal(t, []string{"ok   960 ok.sh (t/ok.sh)", "ok   961 ok.sh (t/ok.sh)", "FAIL 961 bad.sh (t/bad.sh): exit 1: checking | refused"}, lines)
	for _, c := range res.Containers {
		assert.Equal(t, engine.StageDone, c.State, "a failing test fails no container")
	}
}

// Only the requested containers' tests run: a dependency built on the
// way is not tested; a plan lists the tests and runs none.
func TestWithTestsOnlyTheRequestedAndNeverInAPlan(t *testing.T) {
	t.Parallel()
	a, b := healthContainer(960, "true"), healthContainer(961, "true")
	a.Later, b.Later = engine.Later{}, engine.Later{}
	b.Dependencies = []int{960}
	cfg := oneConfig(withTests(a, "ok.sh"), withTests(b, "ok.sh"))
	_, ran, do := testsHost(t, cfg)
	clear(ran)
	plan := do(engine.RunOptions{DryRun: true})
	assert.Empty(t, ran, "a plan runs no test")
	require.Len(t, plan.Tests, 2)
	assert.Equal(t, "test 960 ok.sh (t/ok.sh): would run", plan.Tests[0].Line())

	res := do(engine.RunOptions{CTIDs: []int{961}})
	assert.Equal(t, engine.ExitOK, res.ExitCode())
	assert.Equal(t, map[int]int{961: 1}, ran)
	require.Len(t, res.Tests, 1)
	assert.Equal(t, 961, res.Tests[0].CTID)
}
