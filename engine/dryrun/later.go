package dryrun

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

var (
	_ engine.PVEFiles = (*Backend)(nil)
	_ engine.HostDirs = (*Backend)(nil)
)

// hostDir is a host directory the plan made.
type hostDir struct{ uid, gid int }

// ReadPVEFile is the planned file, else the host's (none on an empty
// host, or a host backend without Proxmox files).
func (b *Backend) ReadPVEFile(ctx context.Context, rel string) ([]byte, error) {
	b.mu.Lock()
	data, ok := b.files[rel]
	gone := b.removed[rel]
	b.mu.Unlock()
	if ok {
		return append([]byte(nil), data...), nil
	}
	if gone {
		return nil, fmt.Errorf("dry-run: /etc/pve/%s: %w", rel, fs.ErrNotExist)
	}
	if f, ok := b.reads.(engine.PVEFiles); ok {
		return f.ReadPVEFile(ctx, rel)
	}
	return nil, fmt.Errorf("dry-run: /etc/pve/%s: %w", rel, fs.ErrNotExist)
}

// WritePVEFile records the write; later reads see it.
func (b *Backend) WritePVEFile(ctx context.Context, _ int, rel string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("write", pve.WriteFileArgv(rel, data))
	if b.files == nil {
		b.files = map[string][]byte{}
	}
	b.files[rel] = append([]byte(nil), data...)
	delete(b.removed, rel)
	return nil
}

// RemovePVEFile records the removal; later reads find no file.
func (b *Backend) RemovePVEFile(ctx context.Context, _ int, rel string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("remove", pve.RemoveFileArgv(rel))
	delete(b.files, rel)
	if b.removed == nil {
		b.removed = map[string]bool{}
	}
	b.removed[rel] = true
	return nil
}

// StatHostDir is the planned directory, else the host's.
func (b *Backend) StatHostDir(ctx context.Context, path string) (bool, int, int, error) {
	b.mu.Lock()
	d, ok := b.dirs[path]
	b.mu.Unlock()
	if ok {
		return true, d.uid, d.gid, nil
	}
	if h, ok := b.reads.(engine.HostDirs); ok {
		return h.StatHostDir(ctx, path)
	}
	return false, 0, 0, nil
}

// EnsureHostDir records the directory; later stats see it.
func (b *Backend) EnsureHostDir(ctx context.Context, _ int, path string, uid, gid int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("host-dir", pve.HostDirArgv(path, uid, gid))
	if b.dirs == nil {
		b.dirs = map[string]hostDir{}
	}
	b.dirs[path] = hostDir{uid: uid, gid: gid}
	return nil
}
