package hooks

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dry-run isolation of shell hooks.
//
// The hook runs in a new mount namespace and a new, empty network
// namespace (only a loopback device, left down: no address of the host,
// its loopback included, is reachable). Inside, the root is an overlay
// whose lower layer is the host's root and whose upper layer is a tmpfs
// thrown away when the hook ends; every other writable filesystem mount is
// overlaid the same way (or, where overlayfs refuses it, bound read-only).
// /proc is bound with its kernel knobs (/proc/sys, sysrq-trigger, ...)
// read-only, /sys read-only; /dev is a fresh tmpfs holding only null,
// zero, full, random, urandom and tty, a private devpts and an empty shm:
// no disk device is reachable. The shim dir (the pct symlinks and the socket) is bound in
// so the hook still reaches the run. Then pivot_root, and the hook is
// exec'ed with its argv, environment and working dir.
//
// The setup runs in a helper: the phoenix binary re-executed as
// "phoenix-isolate" (see IsShim) with CLONE_NEWNS|CLONE_NEWNET. It reports
// a setup failure on fd 3 and closes it by exec when the hook starts.
//
// Where the isolation cannot be set up (not root, no overlayfs, namespaces
// denied), the hook is not run: Run returns "dry-run: hook ... listed, not
// run: <why>", matching engine.ErrHookNotRun (the stage is skipped).

const envIsolateSpec = "PHOENIX_ISOLATE_SPEC"

// isolateSpec is what the helper needs besides its argv (the hook and its
// arguments) and environment (the hook's).
type isolateSpec struct {
	Stage string   // an empty host dir the helper mounts its tmpfs on
	Keep  []string // host dirs bound read-write into the new root
	// Shadow are host paths of the real pct, qm, ... : the shim is bound
	// over each, so a hook calling /usr/sbin/pct by its full path still
	// reaches the shim, never the host's tool.
	Shadow  []string
	ShimExe string
	Dir     string // the hook's working dir
}

// errNotIsolated is matched (errors.Is) by the error of a hook that was not
// run because the isolation could not be set up.
var errNotIsolated = errors.New("dry-run isolation unavailable")

type notIsolatedError struct{ why error }

func (e *notIsolatedError) Error() string   { return "dry-run isolation unavailable: " + e.why.Error() }
func (e *notIsolatedError) Is(t error) bool { return t == errNotIsolated }
func (e *notIsolatedError) Unwrap() error   { return e.why }

func notIsolated(format string, a ...any) error {
	return &notIsolatedError{why: fmt.Errorf(format, a...)}
}

// runIsolated runs the hook at path through the isolation helper.
func (r *Runner) runIsolated(ctx context.Context, p *proc, path, dir string, args, env []string) error {
	check := r.hostCheck
	if check == nil {
		check = isolationHost
	}
	if err := check(os.Geteuid(), overlaySupported); err != nil {
		return err
	}
	exe, err := r.shimExe()
	if err != nil {
		return notIsolated("%v", err)
	}
	stage, err := os.MkdirTemp("", "phoenix-isolate-")
	if err != nil {
		return notIsolated("%v", err)
	}
	defer os.Remove(stage)
	spec := isolateSpec{Stage: stage, Dir: dir, ShimExe: exe, Shadow: shadowPaths(r.shadowDirs)}
	if sock := envValue(env, envShimSocket); sock != "" {
		spec.Keep = append(spec.Keep, filepath.Dir(sock))
	}
	specJSON, _ := json.Marshal(spec)

	statusR, statusW, err := os.Pipe()
	if err != nil {
		return notIsolated("%v", err)
	}
	defer statusR.Close()
	cmd := &exec.Cmd{
		Path:       exe,
		Args:       append([]string{isolateName, path}, args...),
		Env:        append(env, envIsolateSpec+"="+string(specJSON)),
		Dir:        "/",
		ExtraFiles: []*os.File{statusW},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET,
		},
	}
	p.cmd = cmd
	wait, err := p.start()
	statusW.Close()
	if err != nil {
		return notIsolated("start the isolation helper: %v", err)
	}
	// The helper writes why it failed, or nothing: fd 3 closes on exec.
	msg, _ := io.ReadAll(statusR)
	if len(msg) > 0 {
		_ = wait() // the helper ended without running the hook: reap it
		text := strings.TrimSpace(string(msg))
		if strings.HasPrefix(text, "exec: ") {
			return errors.New(strings.TrimPrefix(text, "exec: "))
		}
		return notIsolated("%s", text)
	}
	return p.waitCtx(ctx, wait)
}

// isolationHost says why this host cannot isolate a hook (nil: it can),
// given phoenix's effective uid and whether the kernel has overlayfs.
func isolationHost(euid int, overlay func() bool) error {
	if euid != 0 {
		return notIsolated("not running as root (a private mount and network namespace need root): run phoenix as root to preview shell hooks")
	}
	if !overlay() {
		return notIsolated("the kernel has no overlayfs (modprobe overlay)")
	}
	return nil
}

// defaultShadowDirs are where Proxmox and ZFS install their tools.
var defaultShadowDirs = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"}

// shadowPaths returns the real files of the shimmed commands found in dirs
// (default: defaultShadowDirs and the host's PATH), symlinks resolved.
func shadowPaths(dirs []string) []string {
	if dirs == nil {
		dirs = append(append([]string(nil), defaultShadowDirs...), filepath.SplitList(os.Getenv("PATH"))...)
	}
	seen := map[string]bool{}
	var out []string
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			continue
		}
		for _, c := range ShimCommands {
			real, err := filepath.EvalSymlinks(filepath.Join(d, c))
			if err != nil || seen[real] {
				continue
			}
			if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			seen[real] = true
			out = append(out, real)
		}
	}
	return out
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func overlaySupported() bool {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(strings.TrimPrefix(line, "nodev")) == "overlay" {
			return true
		}
	}
	// Not loaded yet: the kernel may load the module on the first mount.
	_, err = os.Stat("/sys/module/overlay")
	return err == nil
}

// isolateMain is the helper: args are [phoenix-isolate, hook, hook args...].
func isolateMain(args []string) int {
	// phoenix passes the spec and the status pipe (fd 3) together; without
	// the spec, fd 3 may be anything (the Go runtime opens files too).
	var status *os.File
	if os.Getenv(envIsolateSpec) != "" {
		status = os.NewFile(3, "status")
	}
	fail := func(format string, a ...any) int {
		if status != nil {
			fmt.Fprintf(status, format, a...)
		} else {
			fmt.Fprintf(os.Stderr, "phoenix-isolate: "+format+"\n", a...)
		}
		return 126
	}
	if status == nil {
		return fail("run only by phoenix, for dry-run shell hooks")
	}
	unix.CloseOnExec(3)
	var spec isolateSpec
	if err := json.Unmarshal([]byte(os.Getenv(envIsolateSpec)), &spec); err != nil || len(args) < 2 {
		return fail("bad invocation: run only by phoenix")
	}
	if err := isolate(spec); err != nil {
		return fail("%v", err)
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envIsolateSpec+"=") {
			env = append(env, kv)
		}
	}
	err := unix.Exec(args[1], args[1:], env)
	return fail("exec: %s: %v", args[1], err)
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Point  string
	FSType string
	RO     bool
}

func readMountinfo() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root point opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 6 || len(b) < 1 {
			continue
		}
		ro := false
		for _, o := range strings.Split(a[5], ",") {
			ro = ro || o == "ro"
		}
		out = append(out, mountEntry{Point: unescapeMount(a[4]), FSType: b[0], RO: ro})
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				sb.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// bindOnly are the filesystems that are bound as they are (device nodes,
// kernel interfaces), never overlaid.
var bindOnly = map[string]bool{
	"proc": true, "devtmpfs": true, "devpts": true, "mqueue": true, "hugetlbfs": true,
	"binfmt_misc": true, "sysfs": true, "cgroup": true, "cgroup2": true, "securityfs": true,
	"pstore": true, "bpf": true, "debugfs": true, "tracefs": true, "configfs": true,
	"fusectl": true, "efivarfs": true,
}

// isolate builds the throwaway root and pivots into it.
func isolate(spec isolateSpec) error {
	mounts, err := readMountinfo()
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("phoenix-dryrun", spec.Stage, "tmpfs", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount tmpfs for the throwaway layer: %w", err)
	}
	root := filepath.Join(spec.Stage, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	n := 0
	overlay := func(lower, target string) error {
		n++
		upper := filepath.Join(spec.Stage, "upper", strconv.Itoa(n))
		work := filepath.Join(spec.Stage, "work", strconv.Itoa(n))
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
		return unix.Mount("overlay", target, "overlay", 0, opts)
	}
	if err := overlay("/", root); err != nil {
		return fmt.Errorf("mount overlay over /: %w", err)
	}
	for _, m := range mounts {
		// /dev is rebuilt below: only harmless devices, no disks.
		if m.Point == "/" || within(m.Point, spec.Stage) || within(m.Point, "/dev") {
			continue
		}
		if err := isolateMount(m, root, overlay); err != nil {
			return err
		}
	}
	if err := minimalDev(filepath.Join(root, "dev")); err != nil {
		return fmt.Errorf("set up /dev: %w", err)
	}
	// Kernel knobs stay as they are.
	for _, k := range procReadOnly {
		t := filepath.Join(root, "proc", k)
		if _, err := os.Stat(t); err != nil {
			continue
		}
		if err := bindRO(t, t); err != nil {
			return fmt.Errorf("make /proc/%s read-only: %w", k, err)
		}
	}
	for _, sp := range spec.Shadow {
		if err := unix.Mount(spec.ShimExe, filepath.Join(root, sp), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("shadow %s with the shim: %w", sp, err)
		}
	}
	for _, k := range spec.Keep {
		t := filepath.Join(root, k)
		if err := unix.Mount(k, t, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", k, err)
		}
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host root: %w", err)
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("hooks dir: %w", err)
	}
	return nil
}

// procReadOnly are the writable parts of /proc that act on the host.
var procReadOnly = []string{"sys", "sysrq-trigger", "irq", "bus", "fs"}

// devNodes are the devices a hook finds in its /dev: none reaches a disk.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// minimalDev mounts a tmpfs on dir with the harmless host devices bound in,
// the usual symlinks, a devpts and an empty /dev/shm.
func minimalDev(dir string) error {
	if err := unix.Mount("phoenix-dev", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return err
	}
	for _, d := range devNodes {
		t := filepath.Join(dir, d)
		if err := os.WriteFile(t, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, t, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", d, err)
		}
	}
	links := map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", filepath.Join(dir, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mount devpts: %w", err)
	}
	if err := unix.Mount("shm", filepath.Join(dir, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	return nil
}

// isolateMount reproduces one host mount in the new root so that writes to
// it are discarded (or refused).
func isolateMount(m mountEntry, root string, overlay func(lower, target string) error) error {
	target := filepath.Join(root, m.Point)
	fi, err := os.Stat(m.Point)
	if err != nil {
		// Shadowed by a later mount or gone: nothing reachable to protect.
		return nil
	}
	if m.FSType == "nsfs" || m.FSType == "autofs" {
		// Namespace handles and automount triggers: nothing a hook needs.
		// What is not reproduced is merely absent: writes there land in
		// the parent's throwaway layer.
		return nil
	}
	if _, err := os.Stat(target); err != nil {
		// Below a mount that is not reproduced: absent, as above.
		return nil
	}
	kernelFS := within(m.Point, "/sys") || within(m.Point, "/proc")
	switch {
	case m.FSType == "proc" || m.FSType == "devtmpfs" || m.FSType == "devpts" ||
		m.FSType == "mqueue" || m.FSType == "hugetlbfs":
		if err := unix.Mount(m.Point, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", m.Point, err)
		}
		return nil
	case kernelFS || bindOnly[m.FSType] || m.RO || !fi.IsDir():
		if err := bindRO(m.Point, target); err != nil {
			return fmt.Errorf("bind %s read-only: %w", m.Point, err)
		}
		return nil
	}
	if err := overlay(m.Point, target); err == nil {
		return nil
	}
	if err := bindRO(m.Point, target); err != nil {
		return fmt.Errorf("%s (%s) can be neither overlaid nor bound read-only: %w", m.Point, m.FSType, err)
	}
	return nil
}

func bindRO(src, target string) error {
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	return unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}
