package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Dry-run isolation of shell hooks: see doc.go for what holds and why
// bubblewrap. The pieces, in the order they run:
//
//  1. phoenix (runIsolated) starts the helper, the phoenix binary
//     re-executed as "phoenix-isolate", in a private mount namespace, with
//     a status pipe on fd 3 and the parent-death signal set.
//  2. The helper (isolateMain, isolate_helper_linux.go) mounts the
//     throwaway layer: a size-bounded tmpfs holding the upper dirs of an
//     overlay of the host's root and of every other writable mount, nodev
//     and nosuid, the shim bound over the host's pct, qm, ... It writes the
//     seccomp filter into a pipe and execs bwrap with the layer as the new
//     root, fresh /proc and /dev, /sys read-only, new PID, IPC, UTS,
//     cgroup and network namespaces, a new session, --die-with-parent.
//  3. Inside, bwrap runs the phoenix binary once more as
//     "phoenix-isolate-exec" (isolateExecMain): it drops every capability
//     outside hookCaps from the bounding set, marks its fds close-on-exec,
//     says "running" on fd 3 and execs the hook.
//
// Whatever fails before the hook starts is reported on fd 3 (or, for
// bwrap itself, by its silence there and its stderr): the hook is then
// listed, not run, and the plan says why.

const (
	envIsolateSpec   = "PHOENIX_ISOLATE_SPEC"
	envIsolateStatus = "PHOENIX_ISOLATE_STATUS"
	// isolateExecName is argv[0] of the last stage, inside the sandbox.
	isolateExecName = "phoenix-isolate-exec"
	// statusRunning is what the last stage writes on the status fd just
	// before it execs the hook.
	statusRunning = "running\n"
)

// Bounds of the throwaway layer: all the hook's writes together (upper
// dirs of every overlay) and its /dev/shm. They are tmpfs: memory.
const (
	layerBytes  = 256 << 20
	layerInodes = 65536
	shmBytes    = 16 << 20
)

// isolateSpec is what the helper needs besides its argv (the hook and its
// arguments) and environment (the hook's).
type isolateSpec struct {
	Stage string   // an empty host dir the helper mounts its tmpfs on
	Keep  []string // host dirs bound (read-only) into the new root: the shim's socket
	// Shadow are host paths of the real pct, qm, ... : the shim is bound
	// over each, so a hook calling /usr/sbin/pct by its full path still
	// reaches the shim, never the host's tool.
	Shadow  []string
	ShimExe string
	Bwrap   string // the bwrap binary
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
	bwrap, err := r.findBwrap()
	if err != nil {
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
	spec := isolateSpec{Stage: stage, Dir: dir, ShimExe: exe, Bwrap: bwrap, Shadow: shadowPaths(r.shadowDirs)}
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
			Cloneflags: syscall.CLONE_NEWNS,
			// bwrap --die-with-parent covers the sandbox; this covers the
			// helper while it sets the layer up.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	p.cmd = cmd
	wait, err := p.start()
	statusW.Close()
	if err != nil {
		return notIsolated("start the isolation helper: %v", err)
	}
	runErr := p.waitCtx(ctx, wait)
	// Every writer has ended (the last stage closes fd 3 by exec, bwrap's
	// processes end with the sandbox); the deadline only guards a reader
	// against a kernel that keeps one alive a while.
	_ = statusR.SetReadDeadline(time.Now().Add(p.grace))
	status, _ := io.ReadAll(statusR)
	return isolationOutcome(string(status), runErr, ctx.Err() != nil, p.lastStderr)
}

// isolationOutcome is the result of an isolated run, from what the stages
// wrote on the status fd and how the process ended: the hook's own result
// once it was running, else why the isolation failed.
func isolationOutcome(status string, runErr error, ctxDone bool, stderr func() string) error {
	if rest, ok := strings.CutPrefix(status, statusRunning); ok {
		if msg, ok := strings.CutPrefix(strings.TrimSpace(rest), "exec: "); ok {
			return errors.New(msg)
		}
		return runErr
	}
	if ctxDone {
		return runErr
	}
	if status == "" {
		return notIsolated("bubblewrap could not set up the sandbox (%v): %s", runErr, stderr())
	}
	return notIsolated("%s", strings.TrimSpace(status))
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

// findBwrap returns the bubblewrap binary: on PATH, else /usr/bin/bwrap.
func (r *Runner) findBwrap() (string, error) {
	if r.bwrap != "" {
		if _, err := os.Stat(r.bwrap); err != nil {
			return "", notIsolated("bubblewrap not found (%v): install the package bubblewrap", err)
		}
		return r.bwrap, nil
	}
	if p, err := exec.LookPath("bwrap"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/bwrap"); err == nil {
		return "/usr/bin/bwrap", nil
	}
	return "", notIsolated("bubblewrap not found (no bwrap on PATH or in /usr/bin): install the package bubblewrap")
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
