package engine

import (
	"context"
	"fmt"
	"slices"
)

var (
	_ Resizer         = (*hostCache)(nil)
	_ SnapshotDeleter = (*hostCache)(nil)
)

// Resize grows the disk on the backend, when it can, and in the cached config.
func (h *hostCache) Resize(ctx context.Context, ctid int, disk, size string) error {
	r, ok := h.b.(Resizer)
	if !ok {
		return fmt.Errorf("the %s backend cannot resize a disk: grow it by hand or keep storage_size_gb as it is", h.b.Name())
	}
	return h.edit(ctid, r.Resize(ctx, ctid, disk, size), func(cfg map[string]string) {
		cfg[disk] = WithSize(cfg[disk], size)
	})
}

// DeleteSnapshot deletes the snapshot on the backend, when it can, and in
// the cached list.
func (h *hostCache) DeleteSnapshot(ctx context.Context, ctid int, name string) error {
	d, ok := h.b.(SnapshotDeleter)
	if !ok {
		return fmt.Errorf("the %s backend cannot delete a snapshot: delete it by hand, then run again", h.b.Name())
	}
	err := d.DeleteSnapshot(ctx, ctid, name)
	h.mu.Lock()
	defer h.mu.Unlock()
	if snaps, ok := h.snaps[ctid]; ok && err == nil {
		h.snaps[ctid] = slices.DeleteFunc(slices.Clone(snaps), func(s string) bool { return s == name })
	} else {
		delete(h.snaps, ctid)
	}
	return err
}
