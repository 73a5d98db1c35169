package lxc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// attachArgs is `lxc-attach -n CTID -P path --clear-env [--keep-var K]... -- argv`:
// like `pct exec`, a clean environment (LXC sets a default PATH) and "--"
// so the command's own flags are never taken as lxc-attach's. The values
// of env are not on the command line, where ps shows them (they may be
// secrets): lxc-attach keeps them from its own environment (attachEnv).
func (b *Backend) attachArgs(ctid int, argv []string, env map[string]string) []string {
	args := []string{"-n", b.name(ctid), "-P", b.path, "--clear-env"}
	for _, k := range sortedEnvKeys(env) {
		args = append(args, "--keep-var", k)
	}
	args = append(args, "--")
	return append(args, argv...)
}

// attachEnv is lxc-attach's environment: phoenix's own plus env.
func attachEnv(env map[string]string) []string {
	if len(env) == 0 {
		return nil // inherit
	}
	out := os.Environ()
	for _, k := range sortedEnvKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func sortedEnvKeys(env map[string]string) []string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Exec runs argv in the container through lxc-attach and returns the
// command's own exit code (126/127 when it cannot be run, 128+N when a
// signal ended it). lxc-attach's own failures are errors.
func (b *Backend) Exec(ctx context.Context, ctid int, argv []string, opts engine.ExecOptions) (engine.ExecResult, error) {
	if len(argv) == 0 {
		return engine.ExecResult{}, fmt.Errorf("exec %d: empty command", ctid)
	}
	if !b.exists(ctid) {
		return engine.ExecResult{}, b.notExist("exec", ctid)
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "lxc-attach", b.attachArgs(ctid, argv, opts.Env)...)
	cmd.Env = attachEnv(opts.Env)
	// The attached command is a child of lxc-attach in its process group:
	// on cancel killTree ends the group and every descendant that left it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killTree(cmd.Process.Pid) }
	cmd.WaitDelay = 2 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = tee(&out, opts.Stdout), tee(&errb, opts.Stderr)
	if opts.Stdin != nil {
		cmd.Stdin = bytes.NewReader(opts.Stdin)
	}
	err := cmd.Run()
	res := engine.ExecResult{Stdout: out.String(), Stderr: errb.String()}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) && opts.Timeout > 0 {
			return res, fmt.Errorf("exec %d %s: timed out after %s: %w", ctid, strings.Join(argv, " "), opts.Timeout, cerr)
		}
		return res, fmt.Errorf("exec %d %s: %w", ctid, strings.Join(argv, " "), cerr)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Code = 128 + int(ws.Signal()) // lxc-attach itself was killed
		}
		if res.Code != 0 && b.attachFailed(ctid, res.Stderr) {
			return res, b.attachError(ctx, ctid, res.Stderr)
		}
		return res, nil
	default:
		return res, fmt.Errorf("exec %d: lxc-attach: %w", ctid, err)
	}
}

// killTree ends lxc-attach (pid) and all it started in the container: its
// process group (the attached command is in it) and every descendant found
// through the parent links of /proc, since a command's children may leave
// the group (setsid, a daemon, a shell's job control). Descendants are
// stopped first, scan after scan until no new one appears, so none forks
// past the last scan; then all are killed. Not found: a process already
// reparented before the cancel (a daemon that double-forked and whose
// parent exited) is no descendant any more.
func killTree(pid int) error {
	stopped := map[int]bool{}
	for round := 0; round < 10; round++ {
		fresh := false
		for _, p := range descendants(pid) {
			if !stopped[p] {
				stopped[p], fresh = true, true
				_ = syscall.Kill(p, syscall.SIGSTOP)
			}
		}
		if !fresh {
			break
		}
	}
	err := syscall.Kill(-pid, syscall.SIGKILL)
	for p := range stopped {
		_ = syscall.Kill(p, syscall.SIGKILL) // gone already: ESRCH, fine
	}
	return err
}

// descendants are the pids below pid in the host's process tree, read
// from /proc/PID/stat ("PID (COMM) STATE PPID ...": COMM may hold blanks
// and parentheses, so the fields after its last ")" are read).
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// attachFailed tells lxc-attach's own failure (it could not enter the
// container) from the command's exit code: lxc-attach then logs "Failed
// to get init pid" / "Failed to attach" under its "lxc-attach: CTID:"
// prefix.
func (b *Backend) attachFailed(ctid int, stderr string) bool {
	prefix := "lxc-attach: " + b.name(ctid) + ": "
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, prefix) && (strings.Contains(l, "Failed to get init pid") ||
			strings.Contains(l, "Failed to get attach context") || strings.Contains(l, "Failed to attach")) {
			return true
		}
	}
	return false
}

func (b *Backend) attachError(ctx context.Context, ctid int, stderr string) error {
	if st, err := b.Status(ctx, ctid); err == nil && st.Exists && !st.Running {
		return fmt.Errorf("exec %d: container '%d' not running!", ctid, ctid)
	}
	return fmt.Errorf("exec %d: lxc-attach failed: %s", ctid, strings.TrimSpace(stderr))
}

func tee(buf *bytes.Buffer, w io.Writer) io.Writer {
	if w == nil {
		return buf
	}
	return io.MultiWriter(buf, w)
}

// pushScript writes stdin to $1 inside the container, creating its
// directory, then applies mode $2 and owner $3 (if not empty).
const pushScript = `set -e
mkdir -p "$(dirname "$1")"
cat > "$1"
chmod "$2" "$1"
if [ -n "$3" ]; then chown "$3" "$1"; fi`

// Push writes content to dest inside the running container, as `pct push`.
func (b *Backend) Push(ctx context.Context, ctid int, dest string, content []byte, o engine.PushOptions) error {
	if !strings.HasPrefix(dest, "/") {
		return fmt.Errorf("push %d: destination %q must be an absolute path", ctid, dest)
	}
	st, err := b.Status(ctx, ctid)
	switch {
	case err != nil:
		return err
	case !st.Exists:
		return b.notExist("push", ctid)
	case !st.Running:
		return fmt.Errorf("push %d: CT %d not running", ctid, ctid)
	}
	perms := o.Perms
	if perms == "" {
		perms = "0644"
	}
	owner := o.User
	if o.Group != "" {
		owner += ":" + o.Group
	}
	if content == nil {
		content = []byte{}
	}
	res, err := b.Exec(ctx, ctid, []string{"sh", "-c", pushScript, "phoenix-push", dest, perms, owner}, engine.ExecOptions{Stdin: content})
	if err != nil {
		return fmt.Errorf("push %d %s: %w", ctid, dest, err)
	}
	if res.Code != 0 {
		return fmt.Errorf("push %d %s: exit %d: %s", ctid, dest, res.Code, strings.TrimSpace(res.Stderr))
	}
	return nil
}
