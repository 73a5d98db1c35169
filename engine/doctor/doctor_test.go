package doctor

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var lxcTools = []string{"lxc-start", "lxc-attach", "lxc-snapshot"}

// hybridMountinfo is this kind of host: v1 controllers at /sys/fs/cgroup/*,
// cgroup2 at /sys/fs/cgroup/unified.
const hybridMountinfo = `24 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw
`

// pureV2Mountinfo is Proxmox VE 8's.
const pureV2Mountinfo = `24 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
`

// fakeHost is a Host whose PATH is a temp dir holding the tools given and
// whose files are the map's.
func fakeHost(t *testing.T, tools []string, files map[string]string) Host {
	t.Helper()
	dir := t.TempDir()
	for _, name := range tools {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755))
	}
	t.Setenv("PATH", dir)
	return Host{
		LookPath: exec.LookPath,
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
		},
		Unshare: func(uintptr) error { return nil },
		Euid:    0,
	}
}

func goodFiles() map[string]string {
	return map[string]string{
		"/proc/filesystems":    "nodev\tsysfs\nnodev\tproc\nnodev\toverlay\n\text4\n",
		"/proc/self/mountinfo": hybridMountinfo,
	}
}

func allLXCTools() []string {
	return append(append([]string(nil), lxcTools...), "rsync", "debootstrap", "bash", "bwrap")
}

func names(cs []Check) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func TestEverythingThere(t *testing.T) {
	r := Run(fakeHost(t, allLXCTools(), goodFiles()), "lxc", lxcTools)
	assert.Empty(t, names(r.Missing(0)))
	assert.NoError(t, r.Err(0))
	var out strings.Builder
	r.Write(&out)
	assert.Contains(t, out.String(), "everything is there")
	assert.Contains(t, out.String(), "cgroup2 at /sys/fs/cgroup/unified; hybrid: 2 cgroup v1 hierarchies")
	assert.NotContains(t, out.String(), "missing")
	// Every tool, overlayfs, cgroup v2 and the seven namespaces.
	assert.Len(t, r.Checks, len(allLXCTools())+1+1+7)
}

func TestMissingToolsSayWhichPackageInstallsThem(t *testing.T) {
	h := fakeHost(t, append(append([]string(nil), lxcTools...), "bash", "bwrap"), goodFiles())
	r := Run(h, "lxc", lxcTools)
	assert.Equal(t, []string{"rsync", "debootstrap"}, names(r.Missing(0)))
	assert.Equal(t, "apt-get install -y --no-install-recommends debootstrap rsync", InstallCommand(r.Missing(0)))

	var out strings.Builder
	r.Write(&out)
	assert.Contains(t, out.String(), "  missing  rsync             not found on PATH\n")
	assert.Contains(t, out.String(), "needed for: LXC copies and snapshots a directory rootfs with it")
	assert.Contains(t, out.String(), "install (as root): apt-get update && apt-get install -y --no-install-recommends debootstrap rsync\n")

	// A run needs rsync, not debootstrap (that builds the test rootfs).
	err := r.Err(NeedRun)
	require.Error(t, err)
	var me *MissingError
	require.True(t, errors.As(err, &me))
	assert.Equal(t, []string{"rsync"}, names(me.Missing))
	assert.Contains(t, err.Error(), "the lxc backend cannot run here: missing rsync\n")
	assert.Contains(t, err.Error(), "apt-get install -y --no-install-recommends rsync\n")
	assert.Contains(t, err.Error(), "phoenix doctor --backend lxc")
	assert.NoError(t, r.Err(NeedDryRun))
}

func TestNoLXCAtAll(t *testing.T) {
	r := Run(fakeHost(t, []string{"bash"}, goodFiles()), "lxc", lxcTools)
	assert.Equal(t, []string{"lxc-start", "lxc-attach", "lxc-snapshot", "rsync", "debootstrap", "bwrap"}, names(r.Missing(0)))
	assert.Equal(t, "apt-get install -y --no-install-recommends bubblewrap debootstrap lxc rsync", InstallCommand(r.Missing(0)))
}

func TestPctMissingIsNotAnAptPackage(t *testing.T) {
	r := Run(fakeHost(t, []string{"bash", "bwrap"}, goodFiles()), "pct", lxcTools)
	missing := r.Missing(0)
	require.Equal(t, []string{"pct"}, names(missing))
	assert.Empty(t, InstallCommand(missing))
	var out strings.Builder
	r.Write(&out)
	assert.Contains(t, out.String(), "pct: pct comes with Proxmox VE")
	assert.NotContains(t, out.String(), "apt-get")
	assert.NotContains(t, names(r.Checks), "overlayfs", "only the lxc backend clones with overlayfs")
}

func TestOverlayfsMissing(t *testing.T) {
	files := goodFiles()
	files["/proc/filesystems"] = "nodev\tsysfs\n\text4\n"
	r := Run(fakeHost(t, allLXCTools(), files), "lxc", lxcTools)
	require.Equal(t, []string{"overlayfs"}, names(r.Missing(0)))
	assert.Contains(t, r.Err(NeedRun).Error(), "overlayfs: load the kernel module: modprobe overlay")
}

func TestCgroup2FoundFromMountinfo(t *testing.T) {
	files := goodFiles()
	files["/proc/self/mountinfo"] = pureV2Mountinfo
	r := Run(fakeHost(t, allLXCTools(), files), "lxc", lxcTools)
	c := find(t, r, "cgroup v2")
	assert.True(t, c.OK)
	assert.Equal(t, "cgroup2 at /sys/fs/cgroup", c.Detail)

	files["/proc/self/mountinfo"] = strings.ReplaceAll(hybridMountinfo, "- cgroup2 cgroup2", "- tmpfs tmpfs")
	r = Run(fakeHost(t, allLXCTools(), files), "lxc", lxcTools)
	c = find(t, r, "cgroup v2")
	assert.False(t, c.OK)
	assert.Equal(t, "no cgroup2 mount in /proc/self/mountinfo", c.Detail)
	assert.NoError(t, r.Err(NeedRun), "LXC runs on cgroup v1 too")
}

func TestNamespaceThatCannotBeUnshared(t *testing.T) {
	h := fakeHost(t, allLXCTools(), goodFiles())
	var asked []uintptr
	h.Unshare = func(flag uintptr) error {
		asked = append(asked, flag)
		if flag == syscall.CLONE_NEWNET {
			return errors.New("operation not permitted")
		}
		return nil
	}
	r := Run(h, "lxc", lxcTools)
	assert.Len(t, asked, 7)
	require.Equal(t, []string{"namespace net"}, names(r.Missing(0)))
	assert.Equal(t, "cannot unshare: operation not permitted", find(t, r, "namespace net").Detail)
	assert.NoError(t, r.Err(NeedRun))
	assert.Error(t, r.Err(NeedDryRun))
}

func find(t *testing.T, r Report, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q", name)
	return Check{}
}

// Every package doctor names is in the one package list, .ci/packages,
// which .ci/install-deps installs.
func TestPackagesAreInTheOnePackageList(t *testing.T) {
	f, err := os.Open("../../.ci/packages")
	require.NoError(t, err)
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if p := strings.TrimSpace(line); p != "" {
			listed[p] = true
		}
	}
	require.NoError(t, sc.Err())
	for _, backend := range []string{"pct", "lxc"} {
		for _, c := range Run(fakeHost(t, nil, nil), backend, lxcTools).Checks {
			if c.Package != "" {
				assert.True(t, listed[c.Package], "%s: package %s is not in .ci/packages", c.Name, c.Package)
			}
		}
	}
}

// The real unshare on this machine, as root: the namespaces the dry-run
// isolation needs. (Not the user namespace: a chroot, as in make
// fresh-check, may not make one, and root does not need it.)
func TestRealUnshare(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unshare without a user namespace")
	}
	for _, ns := range namespaceKinds {
		if ns.flag != syscall.CLONE_NEWUSER {
			assert.NoError(t, unshare(ns.flag), ns.name)
		}
	}
	assert.Error(t, unshare(syscall.CLONE_NEWNS|syscall.CLONE_FS), "an invalid combination (EINVAL) fails: the check can tell")
}
