package pct

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// readConf reads <PVEDir>/lxc/<ctid>.conf, which on a Proxmox node holds
// the current config and every snapshot: a read with no pct call (pct costs
// hundreds of milliseconds). ok is false when it cannot be read or parsed
// (not a Proxmox node, no permission, a container of another node): pct
// answers then.
func (b *Backend) readConf(ctid int) (*pve.ConfFile, bool) {
	data, err := os.ReadFile(filepath.Join(b.pveDir, "lxc", strconv.Itoa(ctid)+".conf"))
	if err != nil {
		return nil, false
	}
	f, err := pve.ParseConf(string(data))
	if err != nil {
		return nil, false
	}
	return f, true
}

// Retry of pct's transient lock errors ("CT is locked (…)", "can't lock
// file … got timeout"): a task holding the lock (a clone of the same
// source, a backup) usually ends within seconds.
const (
	defaultRetryAttempts = 5
	defaultRetryBase     = 500 * time.Millisecond
	maxRetryPause        = 5 * time.Second
)

// retryPause is the pause before attempt n+1 (n from 0): base, 2×base, …,
// at most maxRetryPause.
func retryPause(base time.Duration, n int) time.Duration {
	d := base << n
	if d <= 0 || d > maxRetryPause {
		return maxRetryPause
	}
	return d
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
