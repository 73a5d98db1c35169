package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/term"

	"github.com/phoenix-hypervisor/phoenix/hooks"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

func main() { os.Exit(mainExit()) }

// mainExit is main without os.Exit, shared with the tests' TestMain.
func mainExit() int {
	// Invoked as pct, qm, ... from a legacy hook's PATH in dry-run (or on a
	// non-pct backend), or as the dry-run isolation helper: serve the call
	// through the parent run.
	if hooks.IsShim(filepath.Base(os.Args[0])) {
		return hooks.ShimMain(os.Args)
	}
	// Re-executed to run one Lua hook in a memory-limited process.
	if luaapi.IsWorker() {
		return luaapi.WorkerMain()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	return run(ctx, os.Args, Env{
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Getenv:   os.Getenv,
		IsTTY:    term.IsTerminal(int(os.Stdout.Fd())),
		Stdin:    os.Stdin,
		StdinTTY: term.IsTerminal(int(os.Stdin.Fd())),
	})
}
