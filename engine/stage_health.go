package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// StageHealth runs the container's health check.
const StageHealth = "health"

// healthStage runs health_check.command until it succeeds, at most
// retries times, interval apart (RunOptions.Sleep); the last failure fails
// the container. The command runs in the container (sh -c), unless its
// first word names a host script of the hooks dir (HealthScript), which
// runs on the host with the legacy hook contract (HostScripts). It runs
// after the hooks, on every run, either way: a check reads, it changes
// nothing the check does not. A plan makes one try and never waits; what a
// run would retry, and whether the check passes, it cannot know: a failed
// try of a plan is "known only after the run", not a failure.
// Reads: the command's exit code and output.
// Writes: whatever the command does.
var healthStage = Stage{Key: StageHealth, Name: named(StageHealth), Applies: hasHealthCheck, Run: (*ctRun).stageHealth}

func hasHealthCheck(ct *Container) bool { return ct.Later.HealthCheck != nil }

// HostScripts is a HookRunner that also runs a host script of the hooks
// dir as a legacy shell hook (the hooks package implements it).
type HostScripts interface {
	// RunHostScript runs the shell script at path on the host for
	// req.Container with the legacy hook contract (its environment, the
	// hooks dir as working dir, its output streamed under req.Stage, its
	// timeout); args as hook_args (nil: the CTID). In dry-run it runs
	// isolated with pct shimmed, and returns an error matching
	// ErrHookNotRun where that isolation cannot be set up.
	RunHostScript(ctx context.Context, req HookRequest, path string, args []string) error
}

// OriginalHooksDir is where the original system kept its scripts (and
// phoenix's default hooks dir): a health check naming a script there names
// the script of the same path in the hooks dir (v09's
// /usr/local/phoenix_hypervisor/bin/health_checks/check_step_ca.sh).
const OriginalHooksDir = "/usr/local/phoenix_hypervisor/bin"

// HealthScript is the host script of the hooks dir that a health check's
// command names by its first word, an absolute path under hooksDir or
// under OriginalHooksDir: its path relative to the hooks dir, and the
// words after it (split on spaces: no shell). ok is false for any other
// command: it runs in the container.
func HealthScript(command, hooksDir string) (rel string, args []string, ok bool) {
	words := strings.Fields(command)
	if len(words) == 0 || hooksDir == "" || !path.IsAbs(words[0]) {
		return "", nil, false
	}
	first := filepath.Clean(words[0])
	for _, dir := range []string{absPath(hooksDir), OriginalHooksDir} {
		rel, err := filepath.Rel(dir, first)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		if len(words) == 1 {
			return rel, nil, true
		}
		return rel, words[1:], true
	}
	return "", nil, false
}

// checkHealthScript is the run's word, before the container's first
// stage, on a health check naming a host script that is not there (or
// that phoenix cannot run).
func (c *ctRun) checkHealthScript() error {
	hc := c.ct.Later.HealthCheck
	if hc == nil {
		return nil
	}
	rel, _, ok := HealthScript(hc.Command, c.o.HooksDir)
	if !ok {
		return nil
	}
	script := filepath.Join(c.o.HooksDir, rel)
	if _, ok := c.hooks.(HostScripts); !ok {
		return fmt.Errorf("health check %s: a host script, and this run has no hooks runner to run it", script)
	}
	return CheckHostScript(script, c.o.HooksDir)
}

// CheckHostScript says what keeps the health check's host script at
// script (in hooksDir) from running: missing, not a file, not executable.
func CheckHostScript(script, hooksDir string) error {
	info, err := os.Stat(script)
	switch {
	case err != nil:
		return fmt.Errorf("health check %s: the host script is not in the hooks dir %s: add it there, or change health_check.command", script, hooksDir)
	case !info.Mode().IsRegular():
		return fmt.Errorf("health check %s: not a regular file", script)
	case info.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("health check %s: not executable: chmod +x %s", script, script)
	}
	return nil
}

func (c *ctRun) stageHealth(ctx context.Context) (outcome, error) {
	hc := c.ct.Later.HealthCheck
	try, what, passed := c.inContainerCheck(hc.Command), fmt.Sprintf("%q", hc.Command), ""
	if rel, args, ok := HealthScript(hc.Command, c.o.HooksDir); ok {
		try, what = c.hostScriptCheck(filepath.Join(c.o.HooksDir, rel), args), "host script "+rel
		passed = what + " "
	}
	retries := max(hc.Retries, 1)
	if c.o.DryRun {
		retries = 1
	}
	var last error
	for n := 1; n <= retries; n++ {
		if n > 1 {
			if err := c.o.Sleep(ctx, hc.Interval); err != nil {
				return outcome{}, err
			}
		}
		last = try(ctx)
		if last == nil {
			return done("%spassed (try %d of %d)", passed, n, hc.Retries), nil
		}
		var stop stopError
		switch {
		case errors.As(last, &stop):
			return outcome{}, stop.err
		case errors.Is(last, ErrHookNotRun):
			c.log("WARN", last.Error())
			return skipped("%v", last), nil
		case ctx.Err() != nil:
			return outcome{}, ctx.Err()
		case c.o.DryRun:
			// The plan's try ran against a container that may not even
			// exist yet: whether the check passes only the run can tell.
			return done("%sknown only after the run (the plan's try: %v)", passed, last), nil
		}
		c.log("WARN", fmt.Sprintf("health check try %d of %d failed: %v", n, retries, last))
	}
	return outcome{}, fmt.Errorf("health check %s failed %d time(s), %s apart; last: %w", what, retries, hc.Interval, last)
}

// stopError is a health check try that cannot be retried: the check
// itself could not be run.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }

// inContainerCheck is one try of command in the container (sh -c).
func (c *ctRun) inContainerCheck(command string) func(context.Context) error {
	argv := []string{"sh", "-c", command}
	return func(ctx context.Context) error {
		r, last, err := c.execStreamed(ctx, argv, ExecOptions{})
		if err != nil {
			return stopError{fmt.Errorf("health check: pct exec %d: %w", c.ct.CTID, err)}
		}
		if r.Code != 0 {
			return fmt.Errorf("exit %d: %s", r.Code, last)
		}
		return nil
	}
}

// hostScriptCheck is one try of the host script with args, as a legacy
// hook: bounded by the hook timeout, its output streamed as the health
// stage's.
func (c *ctRun) hostScriptCheck(script string, args []string) func(context.Context) error {
	hs := c.hooks.(HostScripts) // checkHealthScript made sure
	if len(args) > 0 {
		args = append([]string{"${PHOENIX_CTID}"}, args...)
	}
	timeout := c.ct.HookTimeout
	if timeout <= 0 {
		timeout = c.o.HookTimeout
	}
	return func(ctx context.Context) error {
		req := HookRequest{Container: c.ct, Config: c.cfg, Backend: c.b, DryRun: c.o.DryRun, Verbose: c.o.Verbose,
			Timeout: timeout, LogFile: c.o.LogFile, Events: ctSink{ctid: c.ct.CTID, next: c.sink}, Stage: StageHealth}
		err := hs.RunHostScript(ctx, req, script, args)
		// A host script may have changed the container behind phoenix's
		// back (it runs the real pct).
		c.cache.Forget(c.ct.CTID)
		return err
	}
}
