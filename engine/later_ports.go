package engine

import (
	"context"
	"errors"
	"io/fs"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Two host ports of the later-era stages, implemented by the backends
// that have them (pct, dry-run, the test fakes; lxc: host directories
// only). A stage finds them with pveFilesOf / hostDirsOf, which keep the
// Observe wrapper's events, so the plan shows every write.

// PVEFiles reads and writes files of the Proxmox config root (/etc/pve,
// or --pve-dir): the firewall file of a container.
type PVEFiles interface {
	// ReadPVEFile returns the file at rel ("firewall/960.fw"); an error
	// wrapping fs.ErrNotExist when there is none.
	ReadPVEFile(ctx context.Context, rel string) ([]byte, error)
	// WritePVEFile replaces the file at rel with data.
	WritePVEFile(ctx context.Context, ctid int, rel string, data []byte) error
	// RemovePVEFile removes the file at rel (destroy); none there is no
	// error.
	RemovePVEFile(ctx context.Context, ctid int, rel string) error
}

// HostDirs makes the host directories of bind mounts.
type HostDirs interface {
	// StatHostDir reports whether path is a directory on the host, and
	// its owner.
	StatHostDir(ctx context.Context, path string) (exists bool, uid, gid int, err error)
	// EnsureHostDir creates path (and its parents) and, unless uid or gid
	// is -1, gives it that owner.
	EnsureHostDir(ctx context.Context, ctid int, path string, uid, gid int) error
}

// unwrapped is the backend under the run's cache (hostCache), whose ports
// these are.
func unwrapped(b Backend) Backend {
	if u, ok := b.(interface{ Unwrap() Backend }); ok {
		return u.Unwrap()
	}
	return b
}

func pveFilesOf(b Backend) (PVEFiles, bool) {
	if o, ok := b.(*observed); ok {
		inner, ok := unwrapped(o.b).(PVEFiles)
		if !ok {
			return nil, false
		}
		return observedPVE{o: o, inner: inner}, true
	}
	f, ok := unwrapped(b).(PVEFiles)
	return f, ok
}

func hostDirsOf(b Backend) (HostDirs, bool) {
	if o, ok := b.(*observed); ok {
		inner, ok := unwrapped(o.b).(HostDirs)
		if !ok {
			return nil, false
		}
		return observedDirs{o: o, inner: inner}, true
	}
	d, ok := unwrapped(b).(HostDirs)
	return d, ok
}

type observedPVE struct {
	o     *observed
	inner PVEFiles
}

func (p observedPVE) ReadPVEFile(ctx context.Context, rel string) ([]byte, error) {
	return p.inner.ReadPVEFile(ctx, rel)
}

func (p observedPVE) WritePVEFile(ctx context.Context, ctid int, rel string, data []byte) error {
	p.o.emitFile(ctx, ctid, pve.WriteFileArgv(rel, data), "", p.change(ctx, rel, data))
	return p.inner.WritePVEFile(ctx, ctid, rel, data)
}

// change is what a planned write does to the file: read through the
// backend's own reader (the plan's file, else the host's), never written.
func (p observedPVE) change(ctx context.Context, rel string, data []byte) *FileChange {
	if !p.o.records() {
		return nil
	}
	path := "/etc/pve/" + rel
	old, err := p.inner.ReadPVEFile(ctx, rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return newFile(path, data)
	case err != nil:
		return nil
	}
	return changeOf(path, old, data)
}

func (p observedPVE) RemovePVEFile(ctx context.Context, ctid int, rel string) error {
	p.o.emit(ctx, ctid, pve.RemoveFileArgv(rel))
	return p.inner.RemovePVEFile(ctx, ctid, rel)
}

type observedDirs struct {
	o     *observed
	inner HostDirs
}

func (d observedDirs) StatHostDir(ctx context.Context, path string) (bool, int, int, error) {
	return d.inner.StatHostDir(ctx, path)
}

func (d observedDirs) EnsureHostDir(ctx context.Context, ctid int, path string, uid, gid int) error {
	d.o.emit(ctx, ctid, pve.HostDirArgv(path, uid, gid))
	return d.inner.EnsureHostDir(ctx, ctid, path, uid, gid)
}
