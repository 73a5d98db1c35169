package engine

import (
	"context"
	"fmt"
	"time"
)

// Start starts the containers of o.CTIDs in StartOrder, waiting each one's
// boot_delay before the next; one already running is left as is. A
// container's failure fails it alone: the others go on.
func Start(ctx context.Context, o LifecycleOptions) (*Result, error) {
	l, order, err := powerSetup(o)
	if err != nil {
		return nil, err
	}
	l.phase(ctx, order, l.startStage(order))
	return l.result(ctx, order, []string{StageStart}), nil
}

// Stop shuts the containers of o.CTIDs down in the reverse of StartOrder
// (dependents first); one already stopped is left as is.
func Stop(ctx context.Context, o LifecycleOptions) (*Result, error) {
	l, order, err := powerSetup(o)
	if err != nil {
		return nil, err
	}
	order = reversed(order)
	l.phase(ctx, order, l.stopStage())
	return l.result(ctx, order, []string{StageStop}), nil
}

// Restart stops the containers (dependents first), then starts them
// (sources and dependencies first); a stopped one is only started, one
// that failed to stop is not started.
func Restart(ctx context.Context, o LifecycleOptions) (*Result, error) {
	l, order, err := powerSetup(o)
	if err != nil {
		return nil, err
	}
	l.phase(ctx, reversed(order), l.stopStage())
	l.phase(ctx, order, l.startStage(order))
	return l.result(ctx, order, []string{StageStop, StageStart}), nil
}

func powerSetup(o LifecycleOptions) (*lifecycle, []int, error) {
	if o.Config == nil {
		return nil, nil, fmt.Errorf("lifecycle: no configuration loaded")
	}
	order, err := StartOrder(o.Config, o.CTIDs)
	if err != nil {
		return nil, nil, err
	}
	l, err := newLifecycle(o)
	return l, order, err
}

func (l *lifecycle) stopStage() Stage {
	return Stage{Key: StageStop, Name: named(StageStop), Applies: always, Run: func(c *ctRun, ctx context.Context) (outcome, error) {
		return c.stopContainer(ctx, l.lo.ShutdownTimeout)
	}}
}

// startStage starts a container, then waits its boot_delay unless it is
// the last of order.
func (l *lifecycle) startStage(order []int) Stage {
	last := order[len(order)-1]
	return Stage{Key: StageStart, Name: named(StageStart), Applies: always, Run: func(c *ctRun, ctx context.Context) (outcome, error) {
		out, err := c.startContainer(ctx)
		if err != nil || out.state != StageDone || c.ct.CTID == last {
			return out, err
		}
		delay := BootDelay(c.ct)
		if delay <= 0 {
			return out, nil
		}
		if l.lo.DryRun {
			return done("%s; then waits %s (boot_delay)", out.detail, delay), nil
		}
		if err := l.lo.Sleep(ctx, delay); err != nil {
			return outcome{}, err
		}
		return done("%s; waited %s (boot_delay)", out.detail, delay), nil
	}}
}

// startContainer is `pct start` unless the container runs already.
func (c *ctRun) startContainer(ctx context.Context) (outcome, error) {
	ctid := c.ct.CTID
	st, err := c.status(ctx)
	if err != nil {
		return outcome{}, err
	}
	switch {
	case !st.Exists:
		return outcome{}, fmt.Errorf("container %d does not exist: build it with `phoenix run --ctid %d`", ctid, ctid)
	case st.Running:
		return already("running"), nil
	}
	if err := c.b.Start(ctx, ctid); err != nil {
		return outcome{}, pctError(err, "pct start %d", ctid)
	}
	return done("started"), nil
}

// stopContainer shuts a running container down (`pct shutdown --timeout`)
// and, when it is still running after that (the shutdown timed out or
// failed), stops it (`pct stop`).
func (c *ctRun) stopContainer(ctx context.Context, timeout time.Duration) (outcome, error) {
	ctid := c.ct.CTID
	st, err := c.status(ctx)
	if err != nil {
		return outcome{}, err
	}
	switch {
	case !st.Exists:
		return already("does not exist"), nil
	case !st.Running:
		return already("stopped"), nil
	}
	shutErr := c.b.Shutdown(ctx, ctid, timeout)
	if shutErr == nil {
		if c.o.DryRun {
			return done("shut down; pct stop %d if it is not down within %ds", ctid, int(timeout.Seconds())), nil
		}
		return done("shut down"), nil
	}
	if ctx.Err() != nil {
		return outcome{}, ctx.Err()
	}
	if st, err = c.status(ctx); err != nil {
		return outcome{}, err
	}
	if !st.Running {
		return done("shut down"), nil
	}
	c.log("WARN", fmt.Sprintf("pct shutdown %d: %v: stopping it", ctid, shutErr))
	if err := c.b.Stop(ctx, ctid); err != nil {
		return outcome{}, pctError(err, "pct stop %d", ctid)
	}
	return done("stopped: shutdown did not end within %ds", int(timeout.Seconds())), nil
}

// status is the container's `pct status`.
func (c *ctRun) status(ctx context.Context) (Status, error) {
	st, err := c.b.Status(ctx, c.ct.CTID)
	if err != nil {
		return st, pctError(err, "pct status %d", c.ct.CTID)
	}
	return st, nil
}
