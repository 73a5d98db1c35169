package engine

import (
	"context"
	"fmt"
	"time"
)

// startStage starts the container and waits until it answers.
// Reads: the status; `pct exec -- true` until it succeeds.
// Writes: `pct start` when it is stopped.
var startStage = Stage{Key: StageStart, Name: named(StageStart), Applies: always, Run: (*ctRun).stageStart}

func (c *ctRun) stageStart(ctx context.Context) (outcome, error) {
	ct := c.ct
	st, err := c.b.Status(ctx, ct.CTID)
	if err != nil {
		return outcome{}, pctError(err, "pct status %d", ct.CTID)
	}
	if st.Running {
		if err := c.waitReady(ctx, true); err != nil {
			return outcome{}, err
		}
		return already("running"), nil
	}
	if err := c.start(ctx); err != nil {
		return outcome{}, err
	}
	return done("started"), nil
}

// start starts the container and waits until it answers.
func (c *ctRun) start(ctx context.Context) error {
	if err := c.b.Start(ctx, c.ct.CTID); err != nil {
		return pctError(err, "pct start %d", c.ct.CTID)
	}
	return c.waitReady(ctx, false)
}

// restart is shutdown then start, for changes Proxmox applies only at
// container start (device passthrough, features).
// A stopped container (a hook may stop it) is only started.
func (c *ctRun) restart(ctx context.Context) error {
	st, err := c.b.Status(ctx, c.ct.CTID)
	if err != nil {
		return pctError(err, "pct status %d", c.ct.CTID)
	}
	if st.Running {
		if err := c.b.Shutdown(ctx, c.ct.CTID, shutdownTimeout); err != nil {
			return pctError(err, "pct shutdown %d", c.ct.CTID)
		}
	}
	return c.start(ctx)
}

// waitReady polls until the container runs and `pct exec CTID -- true`
// succeeds. The first poll is immediate; then the pause doubles from 100ms
// up to 2s, within the run's StartTimeout. knownRunning skips the first
// status call when the caller has just seen the container running.
func (c *ctRun) waitReady(ctx context.Context, knownRunning bool) error {
	ctid := c.ct.CTID
	ctx2, cancel := context.WithTimeout(ctx, c.o.StartTimeout)
	defer cancel()
	pause := 100 * time.Millisecond
	last := "not polled yet"
	for first := true; ; first = false {
		running := knownRunning && first
		if !running {
			st, err := c.b.Status(ctx2, ctid)
			switch {
			case err != nil:
				last = err.Error()
			case !st.Exists:
				last = "container does not exist"
			case !st.Running:
				last = "status: stopped"
			default:
				running = true
			}
		}
		if running {
			r, err := c.b.Exec(ctx2, ctid, []string{"true"}, ExecOptions{Probe: true})
			switch {
			case err != nil:
				last = "pct exec: " + err.Error()
			case r.Code != 0:
				last = fmt.Sprintf("pct exec %d -- true: exit %d", ctid, r.Code)
			default:
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx2.Done():
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("container %d was not ready within %s (last: %s): check `pct status %d` and the container's console", ctid, c.o.StartTimeout, last, ctid)
		case <-t.C:
		}
		pause = min(pause*2, 2*time.Second)
	}
}
