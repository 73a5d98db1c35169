package memhost

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

// HostDir is a host directory the fake holds.
type HostDir struct{ UID, GID int }

// PVEFile returns a file of the fake's Proxmox config root.
func (b *Backend) PVEFile(rel string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.pveFiles[rel]
	return data, ok
}

// HostDirs returns the host directories made so far.
func (b *Backend) HostDirs() map[string]HostDir {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]HostDir, len(b.hostDirs))
	for k, v := range b.hostDirs {
		out[k] = v
	}
	return out
}

func (b *Backend) ReadPVEFile(ctx context.Context, rel string) ([]byte, error) {
	if err := b.begin(ctx, "read-pve-file", 0, []string{"# read /etc/pve/" + rel}, false); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	data, ok := b.pveFiles[rel]
	if !ok {
		return nil, fmt.Errorf("fake: /etc/pve/%s: %w", rel, fs.ErrNotExist)
	}
	return append([]byte(nil), data...), nil
}

func (b *Backend) WritePVEFile(ctx context.Context, ctid int, rel string, data []byte) error {
	if err := b.begin(ctx, "write", ctid, pve.WriteFileArgv(rel, data), true); err != nil {
		return err
	}
	defer b.mu.Unlock()
	if b.pveFiles == nil {
		b.pveFiles = map[string][]byte{}
	}
	b.pveFiles[rel] = append([]byte(nil), data...)
	return nil
}

func (b *Backend) RemovePVEFile(ctx context.Context, ctid int, rel string) error {
	if err := b.begin(ctx, "remove", ctid, pve.RemoveFileArgv(rel), true); err != nil {
		return err
	}
	defer b.mu.Unlock()
	delete(b.pveFiles, rel)
	return nil
}

func (b *Backend) StatHostDir(ctx context.Context, path string) (bool, int, int, error) {
	if err := b.begin(ctx, "stat-host-dir", 0, []string{"# stat " + path}, false); err != nil {
		return false, 0, 0, err
	}
	defer b.mu.Unlock()
	d, ok := b.hostDirs[path]
	return ok, d.UID, d.GID, nil
}

func (b *Backend) EnsureHostDir(ctx context.Context, ctid int, path string, uid, gid int) error {
	if err := b.begin(ctx, "host-dir", ctid, pve.HostDirArgv(path, uid, gid), true); err != nil {
		return err
	}
	defer b.mu.Unlock()
	if b.hostDirs == nil {
		b.hostDirs = map[string]HostDir{}
	}
	b.hostDirs[path] = HostDir{UID: uid, GID: gid}
	return nil
}
