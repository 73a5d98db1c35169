package memhost

import (
	"context"
	"fmt"
	"slices"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

var (
	_ engine.Resizer         = (*Backend)(nil)
	_ engine.SnapshotDeleter = (*Backend)(nil)
)

// Resize grows a disk as pct does: to an absolute size, never smaller.
func (b *Backend) Resize(ctx context.Context, ctid int, disk, size string) error {
	return b.mutate(ctx, "resize", ctid, engine.ResizeArgv(ctid, disk, size), func(c *Container) error {
		old, _ := engine.ParseRootfs(c.Config[disk])
		grown := engine.WithSize(c.Config[disk], size)
		if now, _ := engine.ParseRootfs(grown); now.SizeMiB < old.SizeMiB {
			return pve.Refuse("unable to shrink disk size")
		}
		c.Config[disk] = grown
		return nil
	})
}

func (b *Backend) DeleteSnapshot(ctx context.Context, ctid int, name string) error {
	return b.mutate(ctx, "delsnapshot", ctid, engine.DelSnapshotArgv(ctid, name), func(c *Container) error {
		if !contains(c.Snapshots, name) {
			return fmt.Errorf("snapshot '%s' does not exist", name)
		}
		c.Snapshots = slices.DeleteFunc(c.Snapshots, func(s string) bool { return s == name })
		return nil
	})
}
