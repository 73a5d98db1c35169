package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// HookMarker is where a container remembers which hook run it is
// converged with: the sha256 of the hook, the container's config entry and
// the values its environment gets.
func HookMarker(ctid int) string { return "/etc/phoenix/hook-" + strconv.Itoa(ctid) + ".sha256" }

// HookFingerprint is what HookMarker holds after a successful hook run. A
// change to the hook file, the container's entry or the NVIDIA/Portainer
// values makes the hook run again.
func HookFingerprint(cfg *Config, ct *Container, digest string) string {
	h := sha256.New()
	h.Write([]byte(digest))
	h.Write([]byte{0})
	raw, err := json.Marshal(ct.Raw) // map keys are sorted: canonical enough
	if err != nil {
		raw = []byte(fmt.Sprintf("%v", ct.Raw))
	}
	h.Write(raw)
	h.Write([]byte{0})
	values := hookValues(cfg, ct)
	for _, k := range hookValueVars {
		h.Write([]byte(k + "=" + values[k] + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ErrHookNotRun is what a HookRunner wraps when it chose not to run a hook
// (a dry-run shell hook whose isolation cannot be set up): the hook stage
// is then skipped, with the error's text as its detail, not failed, and no
// marker is written.
var ErrHookNotRun = errors.New("hook not run")

// hookTimeoutGrace is how long after its timeout a hook's context ends,
// should the hook runner not have stopped it.
const hookTimeoutGrace = 10 * time.Second

// hookStage runs the container's hook (Lua or legacy shell) when its
// marker says the hook, the container's entry or its environment changed.
// Reads: the marker file HookMarker (a probe: cat).
// Writes: whatever the hook does; the marker after a successful run.
var hookStage = Stage{Key: StageHook, Name: named(StageHook), Applies: always, Run: (*ctRun).stageHook}

func (c *ctRun) stageHook(ctx context.Context) (outcome, error) {
	info := c.hook
	switch {
	case info.Kind == "":
		return skipped("no hook"), nil
	case info.State == HookNotExecutable:
		// Not a skip: the container would end up without its set-up.
		return outcome{}, errors.New(info.Problem)
	case info.State == HookAmbiguous:
		return outcome{}, fmt.Errorf("%s", info.Problem)
	}
	name := path.Base(info.Path)
	marker := HookMarker(c.ct.CTID)
	want := HookFingerprint(c.cfg, c.ct, info.Digest)
	if !c.o.Force {
		r, err := c.probe(ctx, "cat", marker)
		if err != nil {
			return outcome{}, err
		}
		if r.Code == 0 && strings.TrimSpace(r.Stdout) == want {
			return already("%s: converged", name), nil
		}
	}
	timeout := c.ct.HookTimeout
	if timeout <= 0 {
		timeout = c.o.HookTimeout
	}
	req := HookRequest{
		Container: c.ct,
		Config:    c.cfg,
		Backend:   c.b,
		DryRun:    c.o.DryRun,
		Verbose:   c.o.Verbose,
		Timeout:   timeout,
		LogFile:   c.o.LogFile,
		Events:    ctSink{ctid: c.ct.CTID, next: c.sink},
	}
	hctx := ctx
	if timeout > 0 {
		// The runner enforces the timeout itself (and kills a shell hook's
		// process group); this is only a backstop for one that does not.
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, timeout+hookTimeoutGrace)
		defer cancel()
	}
	err := c.hooks.Run(hctx, req)
	// A hook may have changed anything in or about its container, also
	// behind phoenix's back (a shell hook runs the real pct).
	c.cache.Forget(c.ct.CTID)
	if err != nil {
		if errors.Is(err, ErrHookNotRun) {
			c.log("WARN", err.Error())
			return skipped("%v", err), nil
		}
		if strings.Contains(err.Error(), name) {
			return outcome{}, err // a Lua error names its file:line already
		}
		return outcome{}, fmt.Errorf("%s: %w", name, err) // the stage already says "hook"
	}
	if err := c.writeMarker(ctx, marker, want); err != nil {
		return outcome{}, err
	}
	return done("%s ran", name), nil
}

func (c *ctRun) writeMarker(ctx context.Context, marker, want string) error {
	ctid := c.ct.CTID
	r, err := c.b.Exec(ctx, ctid, []string{"mkdir", "-p", path.Dir(marker)}, ExecOptions{})
	if err != nil {
		return fmt.Errorf("pct exec %d -- mkdir -p %s: %w", ctid, path.Dir(marker), err)
	}
	if r.Code != 0 {
		return fmt.Errorf("mkdir -p %s in container %d: exit %d: %s", path.Dir(marker), ctid, r.Code, tail(r.Stderr))
	}
	if err := c.b.Push(ctx, ctid, marker, []byte(want+"\n"), PushOptions{Perms: "0644"}); err != nil {
		return fmt.Errorf("pct push %d %s: %w", ctid, marker, err)
	}
	return nil
}

// --- template --------------------------------------------------------------

// defaultTemplateSnapshot names the snapshot of an is_template container
// whose config names none.
const defaultTemplateSnapshot = "phoenix-template"
