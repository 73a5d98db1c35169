package hooks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// isolateMain is the helper: args are [phoenix-isolate, hook, hook args...].
// It runs in its own mount namespace, as root, with the status pipe on fd
// 3; it mounts the throwaway layer and execs bwrap.
func isolateMain(args []string) int {
	// phoenix passes the spec and the status pipe (fd 3) together; without
	// the spec, fd 3 may be anything (the Go runtime opens files too).
	var status *os.File
	if os.Getenv(envIsolateSpec) != "" {
		status = os.NewFile(3, "status")
	}
	fail := func(format string, a ...any) int {
		if status != nil {
			fmt.Fprintf(status, format+"\n", a...)
		} else {
			fmt.Fprintf(os.Stderr, "phoenix-isolate: "+format+"\n", a...)
		}
		return 126
	}
	if status == nil {
		return fail("run only by phoenix, for dry-run shell hooks")
	}
	var spec isolateSpec
	if err := json.Unmarshal([]byte(os.Getenv(envIsolateSpec)), &spec); err != nil || len(args) < 2 {
		return fail("bad invocation: run only by phoenix")
	}
	root, err := mountLayer(spec)
	if err != nil {
		return fail("%v", err)
	}
	execDir := filepath.Join(spec.Stage, "exec")
	if err := os.Mkdir(execDir, 0o755); err != nil {
		return fail("%v", err)
	}
	if err := os.Symlink(spec.ShimExe, filepath.Join(execDir, isolateExecName)); err != nil {
		return fail("%v", err)
	}
	filterFD, err := seccompPipe()
	if err != nil {
		return fail("seccomp filter: %v", err)
	}
	argv := bwrapArgs(spec, root, execDir, filterFD, args[1:])
	env := []string{envIsolateStatus + "=3"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envIsolateSpec+"=") && !strings.HasPrefix(kv, envIsolateStatus+"=") {
			env = append(env, kv)
		}
	}
	// fd 3 (the status pipe) and filterFD stay open across the exec: bwrap
	// reads the filter, the last stage gets the status pipe.
	err = unix.Exec(spec.Bwrap, argv, env)
	return fail("exec %s: %v", spec.Bwrap, err)
}

// sandboxExecDir is where the last stage's symlink appears in the sandbox.
const sandboxExecDir = "/run/phoenix-isolate"

// bwrapArgs is the bwrap command line: root becomes /, execDir (holding
// the phoenix-isolate-exec symlink) appears at sandboxExecDir, and the last
// stage runs hook (hook[0] and its arguments).
func bwrapArgs(spec isolateSpec, root, execDir string, filterFD int, hook []string) []string {
	a := []string{"bwrap",
		// Every namespace but the user one: a hook runs as root on files of
		// many owners, which bwrap's one-uid user namespace cannot map. The
		// capabilities are bounded instead (hookCaps, isolateExecMain).
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup", "--unshare-net",
		"--die-with-parent", "--new-session",
		"--cap-drop", "ALL",
	}
	for _, c := range append(append([]string(nil), hookCaps...), "CAP_SETPCAP") {
		a = append(a, "--cap-add", c)
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	a = append(a,
		"--bind", root, "/",
		// A fresh /proc, read-only as a whole: bwrap's own cover of
		// /proc/sys misses it as root, and /proc/scsi, /proc/sysrq-trigger
		// and the like act on the host's devices.
		"--proc", "/proc", "--remount-ro", "/proc",
		"--dev", "/dev",
		"--size", strconv.Itoa(shmBytes), "--tmpfs", "/dev/shm",
		"--ro-bind", "/sys", "/sys",
		"--ro-bind", execDir, sandboxExecDir,
		"--seccomp", strconv.Itoa(filterFD),
		"--chdir", dir,
		"--", filepath.Join(sandboxExecDir, isolateExecName),
	)
	return append(a, hook...)
}

// isolateExecMain is the last stage, inside the sandbox: args are
// [phoenix-isolate-exec, hook, hook args...]. It bounds the capabilities
// and execs the hook.
func isolateExecMain(args []string) int {
	var status *os.File
	if os.Getenv(envIsolateStatus) == "3" {
		status = os.NewFile(3, "status")
	}
	fail := func(format string, a ...any) int {
		if status != nil {
			fmt.Fprintf(status, format+"\n", a...)
		} else {
			fmt.Fprintf(os.Stderr, "phoenix-isolate-exec: "+format+"\n", a...)
		}
		return 126
	}
	if status == nil || len(args) < 2 {
		return fail("run only by phoenix, for dry-run shell hooks")
	}
	if err := boundCaps(); err != nil {
		return fail("drop capabilities: %v", err)
	}
	// Nothing of the isolation is inherited by the hook.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fail("close fds on exec: %v", err)
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envIsolateStatus+"=") {
			env = append(env, kv)
		}
	}
	fmt.Fprint(status, statusRunning)
	err := unix.Exec(args[1], args[1:], env)
	return fail("exec: %s: %v", args[1], err)
}

// hookCaps are the capabilities a dry-run hook keeps: those of root's
// everyday file and process work (Docker's default set without MKNOD,
// SETPCAP and SETFCAP). None reaches past the sandbox's namespaces.
var hookCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
	"CAP_SYS_CHROOT", "CAP_AUDIT_WRITE",
}

// capNumbers maps hookCaps' names to their numbers.
var capNumbers = map[string]uintptr{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "CAP_FOWNER": unix.CAP_FOWNER,
	"CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
	"CAP_SETUID": unix.CAP_SETUID, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
}

// boundCaps drops every capability outside hookCaps from the bounding
// set, clears the ambient set, and leaves exactly hookCaps permitted,
// effective and inheritable (so the hook's exec as root gets just those).
func boundCaps() error {
	keep := map[uintptr]bool{}
	var set [2]uint32
	for _, name := range hookCaps {
		c := capNumbers[name]
		keep[c] = true
		set[c/32] |= 1 << (c % 32)
	}
	last := uintptr(unix.CAP_LAST_CAP)
	if data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			last = uintptr(n)
		}
	}
	for c := uintptr(0); c <= last; c++ {
		if keep[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil {
			return fmt.Errorf("bounding set, capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("ambient set: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: set[0], Permitted: set[0], Inheritable: set[0]},
		{Effective: set[1], Permitted: set[1], Inheritable: set[1]},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// mountLayer mounts the throwaway layer on spec.Stage and builds the
// hook's root in it (returned): an overlay of the host's root and of each
// other writable mount, writes landing in the size-bounded tmpfs; /proc,
// /dev and /sys are left to bwrap.
func mountLayer(spec isolateSpec) (string, error) {
	mounts, err := readMountinfo()
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return "", fmt.Errorf("make mounts private: %w", err)
	}
	opts := fmt.Sprintf("mode=0700,size=%d,nr_inodes=%d", layerBytes, layerInodes)
	if err := unix.Mount("phoenix-dryrun", spec.Stage, "tmpfs", unix.MS_NODEV|unix.MS_NOSUID, opts); err != nil {
		return "", fmt.Errorf("mount tmpfs for the throwaway layer: %w", err)
	}
	root := filepath.Join(spec.Stage, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return "", err
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
		return unix.Mount("overlay", target, "overlay", unix.MS_NODEV|unix.MS_NOSUID, opts)
	}
	if err := overlay("/", root); err != nil {
		return "", fmt.Errorf("mount overlay over /: %w", err)
	}
	for _, m := range mounts {
		if m.Point == "/" || within(m.Point, spec.Stage) || within(m.Point, "/dev") ||
			within(m.Point, "/proc") || within(m.Point, "/sys") {
			continue
		}
		if err := isolateMount(m, root, overlay); err != nil {
			return "", err
		}
	}
	for _, sp := range spec.Shadow {
		if err := unix.Mount(spec.ShimExe, filepath.Join(root, sp), "", unix.MS_BIND, ""); err != nil {
			return "", fmt.Errorf("shadow %s with the shim: %w", sp, err)
		}
	}
	for _, k := range spec.Keep {
		t := filepath.Join(root, k)
		// Read-only: connecting to a socket needs no write access to its
		// mount, and nothing of the host becomes writable.
		if err := bindRO(k, t); err != nil {
			return "", fmt.Errorf("bind %s: %w", k, err)
		}
	}
	return root, nil
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
	// Device nodes and kernel interfaces are bound, never overlaid, like
	// read-only mounts and mounted files: read-only, nodev, nosuid.
	if bindOnly[m.FSType] || m.RO || !fi.IsDir() {
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
	return unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, "")
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}
