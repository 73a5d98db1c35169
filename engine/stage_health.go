package engine

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// StageHealth runs the container's health check.
const StageHealth = "health"

// healthStage runs health_check.command in the container (sh -c) until it
// exits 0, at most retries times, interval apart; the last failure fails
// the container. It runs after the hooks, on every run: it reads, it
// changes nothing the check does not.
// Reads: the command's exit code and output.
// Writes: whatever the command does.
var healthStage = Stage{Key: StageHealth, Name: named(StageHealth), Applies: hasHealthCheck, Run: (*ctRun).stageHealth}

func hasHealthCheck(ct *Container) bool { return ct.Later.HealthCheck != nil }

func (c *ctRun) stageHealth(ctx context.Context) (outcome, error) {
	hc := c.ct.Later.HealthCheck
	if c.o.HooksDir != "" && strings.HasPrefix(hc.Command, strings.TrimSuffix(c.o.HooksDir, "/")+"/") {
		// The original ran such a script on the host with the hook
		// contract; phoenix does not run host scripts as health checks yet.
		return skipped("%s is a host script of the hooks dir: not run (host health checks are not supported yet)", hc.Command), nil
	}
	argv := []string{"sh", "-c", hc.Command}
	var last string
	for try := 1; try <= hc.Retries; try++ {
		if try > 1 {
			t := time.NewTimer(hc.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return outcome{}, ctx.Err()
			case <-t.C:
			}
		}
		r, err := c.b.Exec(ctx, c.ct.CTID, argv, ExecOptions{})
		if err != nil {
			return outcome{}, fmt.Errorf("health check: pct exec %d: %w", c.ct.CTID, err)
		}
		if r.Code == 0 {
			return done("passed (try %d of %d)", try, hc.Retries), nil
		}
		last = fmt.Sprintf("exit %d: %s", r.Code, tail(r.Stderr+r.Stdout))
		c.log("WARN", fmt.Sprintf("health check try %d of %d failed: %s", try, hc.Retries, last))
	}
	return outcome{}, fmt.Errorf("health check %q failed %d time(s), %s apart; last: %s", hc.Command, hc.Retries, hc.Interval, last)
}
