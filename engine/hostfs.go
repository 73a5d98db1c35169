package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// LocalHost implements HostDirs and PVEFiles on this machine's file
// system, for the backends that act on it (pct, lxc). Root is prepended
// to every host path ("" is /), so tests point it at a temp dir; PVEDir
// is the Proxmox config root ("" is /etc/pve).
type LocalHost struct {
	Root   string
	PVEDir string
}

var (
	_ HostDirs = LocalHost{}
	_ PVEFiles = LocalHost{}
)

func (h LocalHost) host(path string) string { return filepath.Join("/", h.Root, path) }

func (h LocalHost) pve(rel string) string {
	dir := h.PVEDir
	if dir == "" {
		dir = "/etc/pve"
	}
	return filepath.Join(dir, filepath.Clean("/"+rel))
}

// StatHostDir reports whether path is a directory, and its owner.
func (h LocalHost) StatHostDir(_ context.Context, path string) (bool, int, int, error) {
	fi, err := os.Stat(h.host(path))
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, 0, nil
	}
	if err != nil {
		return false, 0, 0, fmt.Errorf("stat host directory %s: %w", path, err)
	}
	if !fi.IsDir() {
		return false, 0, 0, fmt.Errorf("host path %s exists and is not a directory: move it away or fix host_path", path)
	}
	uid, gid := -1, -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	return true, uid, gid, nil
}

// EnsureHostDir creates path with mode 0755 and sets its owner.
func (h LocalHost) EnsureHostDir(_ context.Context, _ int, path string, uid, gid int) error {
	p := h.host(path)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("create host directory %s: %w", path, err)
	}
	if uid < 0 && gid < 0 {
		return nil
	}
	if err := os.Chown(p, uid, gid); err != nil {
		return fmt.Errorf("chown %d:%d host directory %s: %w (run as root)", uid, gid, path, err)
	}
	return nil
}

// ReadPVEFile reads a file of the Proxmox config root.
func (h LocalHost) ReadPVEFile(_ context.Context, rel string) ([]byte, error) {
	data, err := os.ReadFile(h.pve(rel))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h.pve(rel), err)
	}
	return data, nil
}

// RemovePVEFile removes a file of the Proxmox config root.
func (h LocalHost) RemovePVEFile(_ context.Context, _ int, rel string) error {
	if err := os.Remove(h.pve(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", h.pve(rel), err)
	}
	return nil
}

// WritePVEFile replaces a file of the Proxmox config root: written beside
// it, then renamed, so a reader never sees half a file.
func (h LocalHost) WritePVEFile(_ context.Context, _ int, rel string, data []byte) error {
	path := h.pve(rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".phoenix.tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
