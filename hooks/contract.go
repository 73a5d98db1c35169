package hooks

import (
	"context"
	"io"
)

// The functions below are the contract between hooks and cmd/phoenix.
// Their bodies are filled in by the shell-hook and Lua-hook work.
// IsShim and ShimMain are in shim.go.

// TestOptions configure `phoenix hook test`.
type TestOptions struct {
	HooksDir string
	Files    []string // *_test.lua files; empty: every *_test.lua in HooksDir
	Verbose  bool
	Backend  string // "" or "fake": fake container; "lxc": real throwaway container
}

// RunTests runs Lua hook tests, writing go-test-style output to w. It
// returns the pass and fail counts.
func RunTests(ctx context.Context, w io.Writer, opts TestOptions) (passed, failed int, err error) {
	return 0, 0, nil
}
