package lxc

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// ThrowawayFactory returns a function that makes a throwaway container
// for one `phoenix hook test --backend lxc` case: container ctid in a
// private temporary lxcpath, made from base and started, with a cleanup
// that destroys it and the lxcpath. base is one of:
//   - a rootfs directory: an overlay on it (nothing copied, the directory
//     is never written), or a rootfs tarball (extracted);
//   - "" or RootfsDir: the cached test rootfs, built on first use;
//   - the CTID of a container in o.LXCPath: an overlay clone of its newest
//     snapshot (or of the container itself when it has none and is
//     stopped).
//
// The throwaway never has a network. It needs root.
func ThrowawayFactory(o Options, base string) func(ctx context.Context, ctid int) (engine.Backend, func(), error) {
	return func(ctx context.Context, ctid int) (engine.Backend, func(), error) {
		if os.Geteuid() != 0 {
			return nil, nil, fmt.Errorf("throwaway container: real LXC containers need root: run as root, or test against the fake (no --backend lxc)")
		}
		base := base
		if base == "" || base == RootfsDir(os.Getenv) {
			dir, _, err := EnsureRootfs(ctx, RootfsOptions{Dir: base})
			if err != nil {
				return nil, nil, fmt.Errorf("throwaway container: %w", err)
			}
			base = dir
		}
		tmp, err := os.MkdirTemp("", "phoenix-hooktest-lxc-")
		if err != nil {
			return nil, nil, fmt.Errorf("throwaway container: %w", err)
		}
		to := o
		to.LXCPath, to.Network = tmp, NetworkNone
		b, err := New(to)
		if err != nil {
			os.RemoveAll(tmp)
			return nil, nil, err
		}
		cleanup := func() {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := b.DestroyAll(cctx); err != nil {
				b.log.Warn("throwaway container cleanup", "err", err)
			}
			os.RemoveAll(tmp)
		}
		if err := b.makeFrom(ctx, o, base, ctid); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("throwaway container %d from %s: %w", ctid, base, err)
		}
		if err := b.Start(ctx, ctid); err != nil {
			cleanup()
			return nil, nil, err
		}
		if err := b.WaitReady(ctx, ctid, 30*time.Second); err != nil {
			cleanup()
			return nil, nil, err
		}
		return b, cleanup, nil
	}
}

// makeFrom creates ctid in b from base (see ThrowawayFactory).
func (b *Backend) makeFrom(ctx context.Context, o Options, base string, ctid int) error {
	if strings.Contains(base, "/") {
		spec := engine.CreateSpec{CTID: ctid, Template: base, Options: []engine.Option{{Key: "hostname", Value: fmt.Sprintf("hooktest-%d", ctid)}}}
		kind, err := templateKind(base)
		if err != nil {
			return err
		}
		return b.create(ctx, spec, kind == "dir") // a directory: an overlay on it, no copy
	}
	src, err := New(Options{LXCPath: o.LXCPath, Network: NetworkNone})
	if err != nil {
		return err
	}
	var baseID int
	if _, err := fmt.Sscan(base, &baseID); err != nil || !src.exists(baseID) {
		return fmt.Errorf("base %q: not a rootfs path nor a container in %s", base, src.path)
	}
	snaps, err := src.snapshots(ctx, baseID)
	if err != nil {
		return err
	}
	args := []string{"-P", src.path, "-n", base, "-p", b.path, "-N", b.name(ctid)}
	if !src.idmapped(baseID) {
		args = append(args, "-s", "-B", "overlayfs") // see idmapped: an overlay of an idmapped rootfs cannot start
	}
	if len(snaps) > 0 {
		args[1], args[3] = src.dir(baseID)+"/snaps", snaps[len(snaps)-1].lxcName
	} else if st, err := src.Status(ctx, baseID); err != nil || st.Running {
		return fmt.Errorf("base CT %s is running and has no snapshot: stop it or snapshot it", base)
	}
	if _, err := b.run(ctx, nil, "lxc-copy", args...); err != nil {
		return err
	}
	return b.editConf(ctid, func(c *lxcConf) error {
		applyNet0(c, "", b.host) // never a network in a hook test
		return nil
	})
}

// WaitReady waits until ctid runs and `true` runs in it, as the start
// stage does.
func (b *Backend) WaitReady(ctx context.Context, ctid int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		res, err := b.Exec(ctx, ctid, []string{"true"}, engine.ExecOptions{Probe: true})
		if err == nil && res.Code == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for CT %d: not ready after %s (last: %v)", ctid, timeout, err)
		case <-time.After(delay):
		}
		if delay < time.Second {
			delay *= 2
		}
	}
}

// DestroyAll stops and destroys every container in the lxcpath, clones
// before the containers whose snapshots they use. For tests, the demo
// and throwaways: it never looks outside its own lxcpath.
func (b *Backend) DestroyAll(ctx context.Context) error {
	list, err := b.List(ctx)
	if err != nil {
		return err
	}
	for _, e := range list {
		if e.Status == "running" {
			_ = b.Stop(ctx, e.CTID)
		}
	}
	left := list
	var lastErr error
	// Each round destroys what nothing depends on any more.
	for round := 0; len(left) > 0 && round <= len(list); round++ {
		var next []engine.ListEntry
		for _, e := range left {
			if err := b.Destroy(ctx, e.CTID); err != nil {
				lastErr = err
				next = append(next, e)
			}
		}
		left = next
	}
	if len(left) > 0 {
		return fmt.Errorf("destroy all in %s: %d left: %w", b.path, len(left), lastErr)
	}
	return nil
}
