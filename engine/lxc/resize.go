package lxc

import (
	"context"
	"fmt"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

var (
	_ engine.Resizer         = (*Backend)(nil)
	_ engine.SnapshotDeleter = (*Backend)(nil)
)

// Resize records the disk's new size, as `pct config` would then report
// it: a rootfs of this backend is a directory of the host's file system,
// which has no size of its own to grow.
func (b *Backend) Resize(ctx context.Context, ctid int, disk, size string) error {
	if !b.exists(ctid) {
		return b.notExist("resize", ctid)
	}
	err := b.editConf(ctid, func(c *lxcConf) error {
		v, _ := c.Meta(disk)
		c.SetMeta(disk, engine.WithSize(v, size))
		return nil
	})
	if err != nil {
		return fmt.Errorf("resize %d %s %s: %w", ctid, disk, size, err)
	}
	return nil
}

// DeleteSnapshot deletes snapshot name (`lxc-snapshot -d`); LXC refuses
// while an overlay clone of it exists.
func (b *Backend) DeleteSnapshot(ctx context.Context, ctid int, name string) error {
	snaps, err := b.snapshots(ctx, ctid)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s.name == name {
			if _, err := b.run(ctx, nil, "lxc-snapshot", "-n", b.name(ctid), "-P", b.path, "-d", s.lxcName); err != nil {
				return fmt.Errorf("delsnapshot %d %s: %w", ctid, name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("delsnapshot %d: snapshot '%s' does not exist", ctid, name)
}
