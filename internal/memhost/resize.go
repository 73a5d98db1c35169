package memhost

import (
	"context"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/hoststate"
)

var (
	_ engine.Resizer         = (*Backend)(nil)
	_ engine.SnapshotDeleter = (*Backend)(nil)
)

// Resize grows a disk as pct does (internal/hoststate).
func (b *Backend) Resize(ctx context.Context, ctid int, disk, size string) error {
	return b.mutate(ctx, "resize", ctid, engine.ResizeArgv(ctid, disk, size), func(h *hoststate.Host) error {
		return h.Resize(ctid, disk, size)
	})
}

func (b *Backend) DeleteSnapshot(ctx context.Context, ctid int, name string) error {
	return b.mutate(ctx, "delsnapshot", ctid, engine.DelSnapshotArgv(ctid, name), func(h *hoststate.Host) error {
		return h.DeleteSnapshot(ctid, name)
	})
}
