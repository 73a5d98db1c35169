package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/luaapi"
)

// runLua runs the Lua hook at path for req in a fresh sandbox, in a
// memory-limited worker process when the context asks for one
// (luaapi.WithWorker). A Lua
// error comes back as "path:line: message" (a *luaapi.HookError); its
// traceback goes to req.Events as a DEBUG line, which the run log keeps
// and the console shows with --verbose.
func runLua(ctx context.Context, req engine.HookRequest, path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read lua hook: %w", err)
	}
	o := luaOptions(ctx, req, path, src)
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	if exe := luaapi.WorkerFrom(ctx); exe != "" {
		err = luaapi.RunIsolated(ctx, o, exe)
	} else {
		err = luaapi.Run(ctx, o)
	}
	var he *luaapi.HookError
	if errors.As(err, &he) && he.Traceback != "" && req.Events != nil {
		req.Events.Emit(engine.Event{Time: time.Now(), Kind: engine.EventLog, CTID: o.CTID, Stage: orHook(req.Stage),
			Level: "DEBUG", Source: filepath.Base(path), Message: he.Error() + "\n" + he.Traceback})
	}
	return err
}

// luaOptions maps a hook request onto the sandbox's options.
func luaOptions(ctx context.Context, req engine.HookRequest, path string, src []byte) luaapi.Options {
	o := luaapi.Options{
		Path:    path,
		Source:  src,
		Config:  req.Config,
		Backend: req.Backend,
		DryRun:  req.DryRun,
		Version: luaapi.VersionFrom(ctx),
		Events:  req.Events,
		Redact:  luaapi.RedactFrom(ctx),
		Limits:  luaapi.Limits{Timeout: req.Timeout},
		Stage:   req.Stage,
	}
	if o.Version == "" {
		o.Version = buildVersion()
	}
	if req.Container != nil {
		o.CTID = req.Container.CTID
	}
	if req.Config != nil && req.Config.HypervisorFile != "" {
		o.BaseDir = filepath.Dir(req.Config.HypervisorFile)
	}
	return o
}

// buildVersion is the phoenix module's version as the Go toolchain
// recorded it ("(devel)" for a plain build).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

// orHook is a request's stage, "hook" when it names none.
func orHook(stage string) string {
	if stage == "" {
		return "hook"
	}
	return stage
}
