package lxc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// initScript is the container's init: it stops at once on the signal
// lxc-stop sends (SIGPWR) and on SIGTERM, so shutdown takes milliseconds,
// and it reaps orphans while it waits.
const initScript = `#!/bin/sh
# Minimal init written by the Phoenix LXC backend: exits promptly on
# SIGPWR (lxc-stop) and SIGTERM.
trap 'exit 0' PWR TERM INT
while :; do
	sleep 3600 &
	wait $!
done
`

const initPath = "/sbin/phoenix-init"

// Create makes a container from spec.Template, a rootfs directory or a
// rootfs tarball on this host, without network unless net0's bridge
// exists. The config is written here rather than by lxc-create, so no
// host default (/etc/lxc/default.conf networking) leaks in.
func (b *Backend) Create(ctx context.Context, spec engine.CreateSpec) error {
	return b.create(ctx, spec, false)
}

// create makes the container. With overlay, the template directory is
// not copied but used read-only as the lower layer of an overlayfs rootfs
// (throwaway containers: instant, and the template must outlive them).
func (b *Backend) create(ctx context.Context, spec engine.CreateSpec, overlay bool) error {
	ctid := spec.CTID
	if b.exists(ctid) {
		return fmt.Errorf("create %d: unable to create CT %d - CT %d already exists in %s", ctid, ctid, ctid, b.path)
	}
	kind, err := templateKind(spec.Template)
	if err != nil {
		return fmt.Errorf("create %d: %w", ctid, err)
	}
	if overlay && kind != "dir" {
		return fmt.Errorf("create %d: an overlay needs a rootfs directory, not %s", ctid, spec.Template)
	}
	unlock := b.lock(ctid)
	defer unlock()
	if err := os.MkdirAll(b.path, 0o755); err != nil {
		return fmt.Errorf("create %d: lxcpath: %w", ctid, err)
	}
	stage, err := os.MkdirTemp(b.path, ".create-"+b.name(ctid)+"-")
	if err != nil {
		return fmt.Errorf("create %d: %w", ctid, err)
	}
	defer os.RemoveAll(stage) // a no-op after the rename below

	// writable is where files are written now; rootfsPath is what the
	// config names once the stage directory is renamed into place.
	writable := filepath.Join(stage, "rootfs")
	rootfsPath := "dir:" + filepath.Join(b.dir(ctid), "rootfs")
	if overlay {
		writable = filepath.Join(stage, "overlay", "delta")
		rootfsPath = "overlay:" + filepath.Clean(spec.Template) + ":" + filepath.Join(b.dir(ctid), "overlay", "delta")
		err = os.MkdirAll(writable, 0o755)
	} else {
		err = b.fillRootfs(ctx, kind, spec.Template, writable)
	}
	if err != nil {
		return fmt.Errorf("create %d: %w", ctid, err)
	}
	if err := os.MkdirAll(filepath.Join(writable, filepath.Dir(initPath)), 0o755); err != nil {
		return fmt.Errorf("create %d: write init: %w", ctid, err)
	}
	if err := os.WriteFile(filepath.Join(writable, initPath), []byte(initScript), 0o755); err != nil {
		return fmt.Errorf("create %d: write init: %w", ctid, err)
	}
	c, notes, err := b.newConf(ctid, spec, rootfsPath)
	if err != nil {
		return fmt.Errorf("create %d: %w", ctid, err)
	}
	if h := c.First("lxc.uts.name"); h != "" {
		_ = writeHostname(writable, h)
	}
	if err := c.write(filepath.Join(stage, "config")); err != nil {
		return fmt.Errorf("create %d: write config: %w", ctid, err)
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return fmt.Errorf("create %d: %w", ctid, err)
	}
	if err := os.Rename(stage, b.dir(ctid)); err != nil {
		return fmt.Errorf("create %d: %w", ctid, err)
	}
	for _, n := range notes {
		b.note(ctid, n)
	}
	return nil
}

// newConf is a fresh container's LXC config with spec's options applied.
func (b *Backend) newConf(ctid int, spec engine.CreateSpec, rootfsPath string) (*lxcConf, []string, error) {
	c := parseConf(fmt.Sprintf(`# LXC config of CT %d, written by the Phoenix LXC backend.
# "#phoenix:" lines keep pct options that have no LXC key.
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = linux64
lxc.rootfs.path = %s
lxc.uts.name = %d
lxc.init.cmd = %s
lxc.net.0.type = empty
`, ctid, rootfsPath, ctid, initPath))
	if apparmorEnabled() {
		// The host's generated profiles forbid what Proxmox allows its
		// privileged containers (nesting, mounts); run unconfined.
		c.Set("lxc.apparmor.profile", "unconfined")
	}
	c.SetMeta("ostemplate", spec.Template)
	var notes []string
	for _, o := range spec.Options {
		n, err := applyOption(c, o.Key, o.Value, b.host)
		if err != nil {
			return nil, nil, err
		}
		if n != "" {
			notes = append(notes, n)
		}
	}
	return c, notes, nil
}

func apparmorEnabled() bool {
	data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(data)) == "Y"
}

// templateKind says whether t is a rootfs directory ("dir") or a tarball
// ("tar") on this host.
func templateKind(t string) (string, error) {
	st, err := os.Stat(t)
	switch {
	case t == "":
		return "", fmt.Errorf("no template: set `template` to a rootfs directory or tarball on this host")
	case err != nil:
		return "", fmt.Errorf("template %q is not a rootfs directory or tarball on this host (the lxc backend cannot use Proxmox storage names): point `template` at one, e.g. a debootstrap directory: %w", t, err)
	case st.IsDir():
		if _, err := os.Stat(filepath.Join(t, "bin/sh")); err != nil {
			return "", fmt.Errorf("template %q: directory has no bin/sh: is it a rootfs?", t)
		}
		return "dir", nil
	case st.Mode().IsRegular():
		return "tar", nil
	}
	return "", fmt.Errorf("template %q: neither a directory nor a file", t)
}

func (b *Backend) fillRootfs(ctx context.Context, kind, src, dst string) error {
	if kind == "dir" {
		// cp -a keeps owners, modes, devices and hard links; --reflink
		// makes it near free on filesystems that share extents.
		if _, err := b.run(ctx, nil, "cp", "-a", "--reflink=auto", filepath.Clean(src), dst); err != nil {
			return fmt.Errorf("copy rootfs: %w", err)
		}
		return nil
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	// GNU tar detects the compression itself when reading.
	if _, err := b.run(ctx, nil, "tar", "-xpf", src, "-C", dst, "--numeric-owner"); err != nil {
		return fmt.Errorf("extract rootfs: %w", err)
	}
	return nil
}

// Clone makes CTID from a snapshot of Source: an overlayfs clone of the
// snapshot's rootfs (like a linked clone of a Proxmox template), or a full
// copy with spec.Full. Without a snapshot the source is copied, which
// needs it stopped.
func (b *Backend) Clone(ctx context.Context, spec engine.CloneSpec) error {
	src, dst := spec.Source, spec.CTID
	if !b.exists(src) {
		return b.notExist("clone", src)
	}
	if b.exists(dst) {
		return fmt.Errorf("clone %d %d: unable to create CT %d - CT %d already exists in %s", src, dst, dst, dst, b.path)
	}
	args, err := b.cloneArgs(ctx, spec)
	if err != nil {
		return err
	}
	if _, err := b.run(ctx, nil, "lxc-copy", args...); err != nil {
		return fmt.Errorf("clone %d %d: %w", src, dst, err)
	}
	hostname := spec.Hostname
	err = b.editConf(dst, func(c *lxcConf) error {
		if hostname == "" {
			hostname = c.First("lxc.uts.name")
		}
		c.Set("lxc.uts.name", hostname)
		c.DelMeta("ostemplate")
		return nil
	})
	if err != nil {
		return fmt.Errorf("clone %d %d: %w", src, dst, err)
	}
	b.syncHostname(dst, hostname)
	return nil
}

// syncHostname writes /etc/hostname in the container's writable rootfs
// (the directory, or an overlay's upper layer), as Proxmox keeps it in
// step with the hostname option. Best effort: lxc.uts.name is what sets
// the hostname.
func (b *Backend) syncHostname(ctid int, name string) {
	c, err := readConf(b.confPath(ctid))
	if err != nil {
		return
	}
	if dir := writableRootfs(c.First("lxc.rootfs.path")); dir != "" {
		if err := writeHostname(dir, name); err != nil {
			b.log.Warn("lxc backend: write /etc/hostname", "ctid", ctid, "err", err)
		}
	}
}

// writableRootfs is where files of a rootfs path can be written from the
// host: "dir:/x" or "/x" → /x; "overlay:lower:upper" → upper.
func writableRootfs(p string) string {
	switch kind, rest, _ := strings.Cut(p, ":"); kind {
	case "dir":
		return rest
	case "overlay", "overlayfs":
		parts := strings.Split(rest, ":")
		return parts[len(parts)-1]
	}
	if strings.HasPrefix(p, "/") {
		return p
	}
	return ""
}

func writeHostname(rootfs, name string) error {
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(rootfs, "etc/hostname"), []byte(name+"\n"), 0o644)
}

func (b *Backend) cloneArgs(ctx context.Context, spec engine.CloneSpec) ([]string, error) {
	src, dst := spec.Source, spec.CTID
	if spec.Snapshot == "" {
		st, err := b.Status(ctx, src)
		if err != nil {
			return nil, err
		}
		if st.Running {
			return nil, fmt.Errorf("clone %d %d: a full clone of a running container needs a snapshot: stop CT %d or give --snapname", src, dst, src)
		}
		return []string{"-P", b.path, "-n", b.name(src), "-p", b.path, "-N", b.name(dst)}, nil
	}
	snaps, err := b.snapshots(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("clone %d %d: %w", src, dst, err)
	}
	lxcName := ""
	for _, s := range snaps {
		if s.name == spec.Snapshot {
			lxcName = s.lxcName
		}
	}
	if lxcName == "" {
		return nil, fmt.Errorf("clone %d %d: snapshot '%s' does not exist on CT %d", src, dst, spec.Snapshot, src)
	}
	args := []string{"-P", filepath.Join(b.dir(src), "snaps"), "-n", lxcName, "-p", b.path, "-N", b.name(dst)}
	if !spec.Full && !b.idmapped(src) {
		args = append(args, "-s", "-B", "overlayfs")
	}
	return args, nil
}

// idmapped reports whether ctid's rootfs is mounted idmapped (it has id
// maps, syncIDMaps). Its clones are full copies: LXC 5.0 hands the idmap
// option on to the overlayfs mount of an overlay clone, which refuses it
// ("Invalid argument"), so an overlay clone of it could never start.
func (b *Backend) idmapped(ctid int) bool {
	c, err := readConf(b.confPath(ctid))
	return err == nil && c.First("lxc.rootfs.options") == idmapOption
}
