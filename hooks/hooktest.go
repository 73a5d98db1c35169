package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

// TestOptions configure `phoenix hook test`.
type TestOptions struct {
	HooksDir string
	Files    []string // *_test.lua files; empty: every *_test.lua in HooksDir
	Verbose  bool     // print the hooks' log lines of passing cases too
	Backend  string   // "" or "fake": fake container; "lxc": real throwaway container (needs NewBackend)
	// NewBackend gives each case the container its hook runs against
	// (set by the lxc backend's wiring); nil: an in-process fake.
	NewBackend func(ctx context.Context, ctid int) (engine.Backend, func(), error)
	// Config is the loaded configuration hooks see unless a case replaces
	// parts of it; nil: empty.
	Config *engine.Config
	// Timeout bounds each case; 0: 60s.
	Timeout time.Duration
	Version string
}

// RunTests runs Lua hook tests, writing go-test-style output to w. It
// returns the pass and fail counts; err is for problems that prevent
// running tests at all (no such file, an unknown backend).
func RunTests(ctx context.Context, w io.Writer, opts TestOptions) (passed, failed int, err error) {
	if opts.Backend != "" && opts.Backend != "fake" && opts.NewBackend == nil {
		return 0, 0, fmt.Errorf("hook test: backend %q is not available for hook tests: use the fake (the default)", opts.Backend)
	}
	files, err := testFiles(opts)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if len(files) == 0 {
		fmt.Fprintf(w, "?\t%s\t[no *_test.lua files]\n", opts.HooksDir)
		return 0, 0, nil
	}
	for _, f := range files {
		p, fl := runTestFile(ctx, w, f, opts)
		passed += p
		failed += fl
		if ctx.Err() != nil {
			break
		}
	}
	status := "ok"
	if failed > 0 {
		status = "FAIL"
	}
	// The summary names what was tested: the files given, else the
	// hooks dir whose tests ran (never a dir the files are not in).
	where := opts.HooksDir
	if len(opts.Files) > 0 {
		where = strings.Join(opts.Files, " ")
	} else if where == "" {
		where = filepath.Dir(files[0])
	}
	fmt.Fprintf(w, "%s\t%s\t%.3fs\n", status, where, time.Since(start).Seconds())
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return passed, failed, ctx.Err()
}

func testFiles(opts TestOptions) ([]string, error) {
	if len(opts.Files) > 0 {
		for _, f := range opts.Files {
			if !strings.HasSuffix(f, "_test.lua") {
				return nil, fmt.Errorf("hook test: %s: not a hook test file (want *_test.lua)", f)
			}
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("hook test: %w", err)
			}
		}
		return opts.Files, nil
	}
	files, err := filepath.Glob(filepath.Join(opts.HooksDir, "*_test.lua"))
	if err != nil {
		return nil, fmt.Errorf("hook test: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

// defaultHook is the hook a test file tests: the file of the same name
// without "_test", when it exists.
func defaultHook(testFile string) string {
	h := strings.TrimSuffix(testFile, "_test.lua") + ".lua"
	if _, err := os.Stat(h); err != nil {
		return ""
	}
	return h
}

func runTestFile(ctx context.Context, w io.Writer, path string, opts TestOptions) (passed, failed int) {
	base := filepath.Base(path)
	src, err := os.ReadFile(path)
	start := time.Now()
	var cases []luaapi.TestCase
	if err == nil {
		cases, err = luaapi.RunTestFile(ctx, luaapi.TestFile{
			Path: path, Source: src, Hook: defaultHook(path), Config: opts.Config,
			NewBackend: opts.NewBackend, Backend: opts.Backend, Timeout: opts.Timeout, Version: opts.Version,
		})
	}
	for _, c := range cases {
		name := base + "/" + strings.ReplaceAll(c.Name, " ", "_")
		fmt.Fprintf(w, "=== RUN   %s\n", name)
		if c.Err == nil {
			passed++
			fmt.Fprintf(w, "--- PASS: %s (%.2fs)\n", name, c.Duration.Seconds())
			if opts.Verbose {
				writeIndented(w, c.Output)
			}
			continue
		}
		failed++
		fmt.Fprintf(w, "--- FAIL: %s (%.2fs)\n", name, c.Duration.Seconds())
		writeIndented(w, []string{relError(c.Err, path)})
		writeIndented(w, c.Output)
	}
	if err != nil {
		failed++
		fmt.Fprintf(w, "=== RUN   %s\n--- FAIL: %s (%.2fs)\n", base, base, time.Since(start).Seconds())
		writeIndented(w, []string{relError(err, path)})
	}
	return passed, failed
}

// relError shows a test failure with the test file's base name, as go
// test does.
func relError(err error, path string) string {
	var he *luaapi.HookError
	if errors.As(err, &he) && he.File == path {
		c := *he
		c.File = filepath.Base(path)
		return c.Error()
	}
	return err.Error()
}

func writeIndented(w io.Writer, lines []string) {
	for _, l := range lines {
		for _, part := range strings.Split(l, "\n") {
			fmt.Fprintf(w, "    %s\n", part)
		}
	}
}
