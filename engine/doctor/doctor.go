// Package doctor checks what a backend needs of the host: the outside
// tools it runs and the kernel features it relies on, and says how to get
// what is missing (the Debian packages of .ci/packages). Every lookup goes
// through Host, so tests check missing cases without changing the host.
package doctor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
)

// Need says what a check is needed for.
type Need int

const (
	// NeedRun: a real run of the backend (and hook test on real containers).
	NeedRun Need = 1 << iota
	// NeedRootfs: building the minimal Debian rootfs of hook test
	// --backend lxc, the real-container tests and make demo.
	NeedRootfs
	// NeedDryRun: the dry-run isolation of legacy shell hooks (as root).
	NeedDryRun
	// NeedHost: a kernel feature the backend's containers rely on.
	NeedHost
)

// Check is one finding.
type Check struct {
	Name    string // "rsync", "overlayfs", "namespace net", ...
	Why     string // what needs it
	Need    Need
	OK      bool
	Detail  string // where it was found, or what is wrong
	Package string // the Debian package that provides it ("" when none does)
	Fix     string // what to do when no package provides it
}

// Host is how the checks look at the machine.
type Host struct {
	LookPath func(string) (string, error)
	ReadFile func(string) ([]byte, error)
	// Unshare starts a trivial process in a new namespace of kind flag
	// (syscall.CLONE_NEW*).
	Unshare func(flag uintptr) error
	Euid    int
}

// RealHost looks at this machine.
func RealHost() Host {
	return Host{LookPath: exec.LookPath, ReadFile: os.ReadFile, Unshare: unshare, Euid: os.Geteuid()}
}

// unshare runs `true` in a new namespace; not as root, inside a new user
// namespace too (what an unprivileged process may do).
func unshare(flag uintptr) error {
	path, err := exec.LookPath("true")
	if err != nil {
		path = "/bin/true" // a PATH without coreutils says nothing of the kernel
	}
	cmd := exec.Command(path)
	if os.Geteuid() != 0 {
		flag |= syscall.CLONE_NEWUSER
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flag}
	return cmd.Run()
}

// tool is an outside program and the package that provides it.
type tool struct {
	name, pkg, why string
	need           Need
}

// Report is every check for one backend.
type Report struct {
	Backend string
	Checks  []Check
}

// Run checks everything the backend ("pct" or "lxc") needs. lxcTools are
// the lxc backend's tools (engine/lxc.Tools).
func Run(h Host, backend string, lxcTools []string) Report {
	var tools []tool
	switch backend {
	case "lxc":
		for _, t := range lxcTools {
			tools = append(tools, tool{t, "lxc", "the lxc backend runs it", NeedRun})
		}
		tools = append(tools,
			tool{"rsync", "rsync", "LXC copies and snapshots a directory rootfs with it", NeedRun},
			tool{"debootstrap", "debootstrap", "builds the minimal Debian rootfs of hook test --backend lxc and make demo", NeedRootfs})
	default:
		tools = append(tools, tool{"pct", "", "the pct backend runs it", NeedRun})
	}
	tools = append(tools,
		tool{"bash", "bash", "legacy shell hooks run with it", NeedRun},
		tool{"bwrap", "bubblewrap", "the dry-run isolation of legacy shell hooks", NeedDryRun})

	r := Report{Backend: backend}
	for _, t := range tools {
		c := Check{Name: t.name, Why: t.why, Need: t.need, Package: t.pkg}
		if p, err := h.LookPath(t.name); err == nil {
			c.OK, c.Detail = true, p
		} else {
			c.Detail = "not found on PATH"
			if t.pkg == "" {
				c.Fix = "pct comes with Proxmox VE (pve-container): run phoenix on a Proxmox VE node, or use --backend lxc"
			}
		}
		r.Checks = append(r.Checks, c)
	}
	if backend == "lxc" {
		r.Checks = append(r.Checks, overlayfs(h))
	}
	r.Checks = append(r.Checks, cgroup2(h))
	r.Checks = append(r.Checks, namespaces(h)...)
	return r
}

func overlayfs(h Host) Check {
	c := Check{Name: "overlayfs", Why: "the lxc backend's linked clones are overlayfs mounts", Need: NeedRun,
		Fix: "load the kernel module: modprobe overlay"}
	data, err := h.ReadFile("/proc/filesystems")
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] == "overlay" {
			c.OK, c.Detail, c.Fix = true, "in /proc/filesystems", ""
			return c
		}
	}
	c.Detail = "not in /proc/filesystems"
	return c
}

// cgroup2 finds the cgroup2 mount in /proc/self/mountinfo: /sys/fs/cgroup
// on a pure v2 host (Proxmox VE 8), elsewhere on a hybrid one
// (/sys/fs/cgroup/unified, v1 controllers at /sys/fs/cgroup/*).
func cgroup2(h Host) Check {
	c := Check{Name: "cgroup v2", Why: "containers' device and resource limits (lxc.cgroup2.*)", Need: NeedHost,
		Fix: "boot with systemd.unified_cgroup_hierarchy=1 (or mount -t cgroup2 none /sys/fs/cgroup/unified)"}
	data, err := h.ReadFile("/proc/self/mountinfo")
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	v2, v1 := mounts(data)
	switch {
	case v2 == "":
		c.Detail = "no cgroup2 mount in /proc/self/mountinfo"
	case v1 > 0:
		c.OK, c.Fix = true, ""
		c.Detail = fmt.Sprintf("cgroup2 at %s; hybrid: %d cgroup v1 hierarchies mounted too", v2, v1)
	default:
		c.OK, c.Fix, c.Detail = true, "", "cgroup2 at "+v2
	}
	return c
}

// mounts returns the first cgroup2 mount point of a mountinfo and how many
// cgroup (v1) mounts it has.
func mounts(mountinfo []byte) (v2 string, v1 int) {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		// "36 25 0:31 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 1 {
			continue
		}
		switch g[0] {
		case "cgroup2":
			if v2 == "" {
				v2 = f[4]
			}
		case "cgroup":
			v1++
		}
	}
	return v2, v1
}

// namespaceKinds are the namespaces the dry-run isolation of shell hooks
// unshares.
var namespaceKinds = []struct {
	name string
	flag uintptr
}{
	{"user", syscall.CLONE_NEWUSER},
	{"pid", syscall.CLONE_NEWPID},
	{"net", syscall.CLONE_NEWNET},
	{"mount", syscall.CLONE_NEWNS},
	{"ipc", syscall.CLONE_NEWIPC},
	{"uts", syscall.CLONE_NEWUTS},
	{"cgroup", syscall.CLONE_NEWCGROUP},
}

func namespaces(h Host) []Check {
	var cs []Check
	for _, ns := range namespaceKinds {
		c := Check{Name: "namespace " + ns.name, Why: "the dry-run isolation of legacy shell hooks", Need: NeedDryRun}
		if err := h.Unshare(ns.flag); err != nil {
			c.Detail = "cannot unshare: " + err.Error()
			c.Fix = "a kernel with " + ns.name + " namespaces, and (in a container) a parent that lets phoenix unshare them"
			if ns.name == "user" && h.Euid != 0 {
				c.Fix = "enable user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run as root"
			}
		} else {
			c.OK, c.Detail = true, "unshare works"
		}
		cs = append(cs, c)
	}
	return cs
}

// OK reports whether every check of the needs passed (0: all checks).
func (r Report) OK(needs Need) bool { return len(r.Missing(needs)) == 0 }

// Missing returns the failed checks among the needs (0: all checks).
func (r Report) Missing(needs Need) []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK && (needs == 0 || c.Need&needs != 0) {
			out = append(out, c)
		}
	}
	return out
}

// InstallCommand is the apt-get command that installs the packages of the
// missing checks ("" when no package would help).
func InstallCommand(missing []Check) string {
	seen := map[string]bool{}
	var pkgs []string
	for _, c := range missing {
		if c.Package != "" && !seen[c.Package] {
			seen[c.Package] = true
			pkgs = append(pkgs, c.Package)
		}
	}
	if len(pkgs) == 0 {
		return ""
	}
	sort.Strings(pkgs)
	return "apt-get install -y --no-install-recommends " + strings.Join(pkgs, " ")
}

// Write prints every check, then what to do about the missing ones.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "phoenix doctor: what the %s backend needs on this host\n", r.Backend)
	for _, c := range r.Checks {
		state := "ok"
		if !c.OK {
			state = "missing"
		}
		fmt.Fprintf(w, "  %-8s %-17s %s\n", state, c.Name, c.Detail)
		if !c.OK {
			fmt.Fprintf(w, "  %-8s %-17s needed for: %s\n", "", "", c.Why)
		}
	}
	missing := r.Missing(0)
	if len(missing) == 0 {
		fmt.Fprintln(w, "everything is there")
		return
	}
	fmt.Fprintf(w, "%d missing:\n", len(missing))
	writeFixes(w, missing)
}

func writeFixes(w io.Writer, missing []Check) {
	if cmd := InstallCommand(missing); cmd != "" {
		fmt.Fprintf(w, "  install (as root): apt-get update && %s\n", cmd)
	}
	seen := map[string]bool{}
	for _, c := range missing {
		if c.Fix != "" && !seen[c.Fix] {
			seen[c.Fix] = true
			fmt.Fprintf(w, "  %s: %s\n", c.Name, c.Fix)
		}
	}
}

// Err is nil when the checks of the needs pass; otherwise an error naming
// what is missing and how to get it, for a command that cannot go on.
func (r Report) Err(needs Need) error {
	missing := r.Missing(needs)
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, len(missing))
	for i, c := range missing {
		names[i] = c.Name
	}
	var fix bytes.Buffer
	writeFixes(&fix, missing)
	return &MissingError{Backend: r.Backend, Missing: missing,
		msg: fmt.Sprintf("the %s backend cannot run here: missing %s\n%s  (phoenix doctor --backend %s checks everything)",
			r.Backend, strings.Join(names, ", "), fix.String(), r.Backend)}
}

// MissingError is Report.Err's error.
type MissingError struct {
	Backend string
	Missing []Check
	msg     string
}

func (e *MissingError) Error() string { return e.msg }
