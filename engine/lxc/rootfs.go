package lxc

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// Rootfs cache defaults: tests and the bundled example share one minimal
// Debian rootfs, built once.
const (
	EnvRootfsCache     = "PHOENIX_TEST_ROOTFS_CACHE"
	DefaultRootfsCache = "/var/cache/phoenix-test/rootfs-bookworm"
	DefaultSuite       = "bookworm"
	DefaultMirror      = "http://deb.debian.org/debian"
)

// RootfsOptions say which rootfs to build and where.
type RootfsOptions struct {
	Dir    string // the rootfs directory; "" → $PHOENIX_TEST_ROOTFS_CACHE or DefaultRootfsCache
	Suite  string // "" → bookworm
	Mirror string // "" → Debian's mirror
	Log    io.Writer
}

// RootfsDir is the cache directory for getenv.
func RootfsDir(getenv func(string) string) string {
	if d := getenv(EnvRootfsCache); d != "" {
		return d
	}
	return DefaultRootfsCache
}

// EnsureRootfs returns a minimal Debian rootfs directory (debootstrap
// --variant=minbase), building it when it is not there yet. The build
// goes to a temporary directory renamed into place at the end, so the
// directory exists only when complete; a lock file keeps concurrent
// callers from building twice. built says whether this call built it.
func EnsureRootfs(ctx context.Context, o RootfsOptions) (dir string, built bool, err error) {
	dir = o.Dir
	if dir == "" {
		dir = RootfsDir(os.Getenv)
	}
	if rootfsReady(dir) {
		return dir, false, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return dir, false, fmt.Errorf("rootfs cache: %w", err)
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return dir, false, fmt.Errorf("rootfs cache: %w", err)
	}
	defer unlock()
	if rootfsReady(dir) { // built by whoever held the lock
		return dir, false, nil
	}
	if err := debootstrap(ctx, o, dir); err != nil {
		return dir, false, err
	}
	return dir, true, nil
}

func rootfsReady(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "bin/sh"))
	return err == nil
}

func debootstrap(ctx context.Context, o RootfsOptions, dir string) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("build rootfs: debootstrap not found: run .ci/install-deps as root (or apt-get install -y debootstrap)")
	}
	suite, mirror := o.Suite, o.Mirror
	if suite == "" {
		suite = DefaultSuite
	}
	if mirror == "" {
		mirror = DefaultMirror
	}
	tmp := dir + ".building"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("build rootfs: %w", err)
	}
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", suite, tmp, mirror)
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := runTool(cmd); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("build rootfs %s from %s: %w", suite, mirror, err)
	}
	_ = os.RemoveAll(dir) // a partial leftover without bin/sh
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("build rootfs: %w", err)
	}
	return nil
}

// lockFile takes an exclusive flock on path.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
