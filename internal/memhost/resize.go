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
	return b.apply(ctx, hoststate.ResizeVerb(ctid, disk, size))
}

func (b *Backend) DeleteSnapshot(ctx context.Context, ctid int, name string) error {
	return b.apply(ctx, hoststate.DeleteSnapshotVerb(ctid, name))
}
