package engine

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Integration tests (tests.integration_tests[] of v09) are run by
// `phoenix test` after a deployment, never by `run`. A test's path is
// relative to the tests dir (<hooks dir>/tests); the file is pushed into
// the container and run there (python3 for .py, else bash).

// TestOutcome is one integration test's result.
type TestOutcome struct {
	CTID int
	Test IntegrationTest
	Err  error // nil: passed
}

// TestsDir is where integration test files are found.
func TestsDir(hooksDir string) string { return filepath.Join(hooksDir, "tests") }

// RunIntegrationTests runs the tests of the containers ctids (all when
// empty), in CTID order, each to its end.
func RunIntegrationTests(ctx context.Context, b Backend, cfg *Config, ctids []int, hooksDir string) []TestOutcome {
	if len(ctids) == 0 {
		for id := range cfg.Containers {
			ctids = append(ctids, id)
		}
	}
	sort.Ints(ctids)
	var out []TestOutcome
	for _, id := range ctids {
		ct := cfg.Containers[id]
		if ct == nil {
			continue
		}
		for _, t := range ct.Later.Tests {
			out = append(out, TestOutcome{CTID: id, Test: t, Err: runIntegrationTest(ctx, b, id, t, hooksDir)})
		}
	}
	return out
}

func runIntegrationTest(ctx context.Context, b Backend, ctid int, t IntegrationTest, hooksDir string) error {
	if t.Type != "" && t.Type != "script" {
		return fmt.Errorf("test type %q: only \"script\" is run", t.Type)
	}
	rel := filepath.Clean("/" + t.Path)[1:] // never out of the tests dir
	file := filepath.Join(TestsDir(hooksDir), rel)
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read %s: %w (put the test under %s)", file, err, TestsDir(hooksDir))
	}
	dest := RunDir + "/tests/" + path.Base(rel)
	if r, err := b.Exec(ctx, ctid, []string{"mkdir", "-p", path.Dir(dest)}, ExecOptions{}); err != nil || r.Code != 0 {
		return fmt.Errorf("pct exec %d -- mkdir -p %s: %v (exit %d)", ctid, path.Dir(dest), err, r.Code)
	}
	if err := b.Push(ctx, ctid, dest, data, PushOptions{Perms: "0755"}); err != nil {
		return fmt.Errorf("pct push %d %s: %w", ctid, dest, err)
	}
	interp := "bash"
	if strings.HasSuffix(dest, ".py") {
		interp = "python3"
	}
	r, err := b.Exec(ctx, ctid, []string{interp, dest}, ExecOptions{})
	if err != nil {
		return fmt.Errorf("pct exec %d -- %s %s: %w", ctid, interp, dest, err)
	}
	if r.Code != 0 {
		return fmt.Errorf("exit %d: %s", r.Code, tail(r.Stderr+r.Stdout))
	}
	return nil
}
