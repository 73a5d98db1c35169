package hooks

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Real runs of shell hooks: nothing left behind. Each hook runs in a cgroup
// v2 of its own, <root>/ct<CTID>, as systemd does for a service: the hook
// starts in it (clone3 CLONE_INTO_CGROUP), so does everything it starts,
// setsid and nohup daemons included. When the hook ends, whatever is left
// in the cgroup is ended (SIGTERM, then cgroup.kill or SIGKILL to every
// pid until none is left) with a warning naming each process, and the
// cgroup is removed. The hook itself gets SIGKILL when phoenix dies
// (parent-death signal); what it started stays in the cgroup, and the next
// run's hook of that container finds the cgroup populated, ends what is in
// it first and says so. The root is <cgroup2 mount>/phoenix-hooks (the
// cgroup2 mount found in /proc/self/mountinfo: /sys/fs/cgroup on Proxmox,
// /sys/fs/cgroup/unified on a hybrid host), $PHOENIX_HOOK_CGROUP or
// Options.CgroupRoot. Without cgroup v2 a warning says so and only the
// hook's process group is ended, as before.

// envHookCgroup overrides the root of the hooks' cgroups.
const envHookCgroup = "PHOENIX_HOOK_CGROUP"

// hookCgroup is the cgroup of one running hook.
type hookCgroup struct {
	dir string
	fd  *os.File // the open dir, for CLONE_INTO_CGROUP
}

// cgroupRoot returns the dir under which hooks get their cgroups.
func (r *Runner) cgroupRoot() (string, error) {
	if r.o.CgroupRoot != "" {
		return r.o.CgroupRoot, nil
	}
	if root := os.Getenv(envHookCgroup); root != "" {
		return root, nil
	}
	mount, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	return filepath.Join(mount, "phoenix-hooks"), nil
}

// cgroup2Mount is where the cgroup v2 hierarchy is mounted.
func cgroup2Mount() (string, error) {
	mounts, err := readMountinfo()
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			return m.Point, nil
		}
	}
	return "", errors.New("no cgroup2 filesystem is mounted")
}

// openHookCgroup makes (or takes over) root/ct<ctid>. A previous hook's
// cgroup still populated (phoenix was killed) is emptied first: what was
// ended is returned for the warning.
func openHookCgroup(root string, ctid int) (*hookCgroup, []string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, nil, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return nil, nil, err
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, nil, fmt.Errorf("%s is not on a cgroup2 filesystem", root)
	}
	dir := filepath.Join(root, "ct"+strconv.Itoa(ctid))
	var ended []string
	if _, err := os.Stat(dir); err == nil {
		// Emptied, then made anew: a process cloned into a cgroup that
		// was once cgroup.kill'ed may be killed at birth by some kernels.
		ended, err = emptyCgroup(dir, 0)
		if err == nil {
			err = removeCgroup(dir)
		}
		if err != nil {
			return nil, ended, err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, ended, err
	}
	fd, err := os.Open(dir)
	if err != nil {
		return nil, ended, err
	}
	return &hookCgroup{dir: dir, fd: fd}, ended, nil
}

// end ends what is left in the cgroup (SIGTERM, grace, then SIGKILL) and
// removes it; it returns what was ended.
func (c *hookCgroup) end(grace time.Duration) ([]string, error) {
	c.fd.Close()
	ended, err := emptyCgroup(c.dir, grace)
	if err != nil {
		return ended, err
	}
	return ended, removeCgroup(c.dir)
}

// emptyCgroup ends every process in dir and its sub-cgroups: SIGTERM and
// up to grace to go (grace 0: none), then cgroup.kill where the kernel has
// it, else SIGKILL to every pid until none is left. It returns "pid
// (command line)" of each process that was running.
func emptyCgroup(dir string, grace time.Duration) ([]string, error) {
	pids := cgroupPids(dir)
	if len(pids) == 0 {
		return nil, nil
	}
	ended := make([]string, 0, len(pids))
	for _, pid := range pids {
		ended = append(ended, describeProcess(pid))
	}
	if grace > 0 {
		signalAll(pids, syscall.SIGTERM)
		deadline := time.Now().Add(grace)
		for len(cgroupPids(dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	killErr := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644)
	// Without cgroup.kill (kernels before 5.14) kill pid by pid; a process
	// forking meanwhile is caught by the next round.
	for i := 0; i < 500; i++ {
		left := cgroupPids(dir)
		if len(left) == 0 {
			return ended, nil
		}
		if killErr != nil {
			signalAll(left, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ended, fmt.Errorf("cgroup %s: processes still running after SIGKILL: %v", dir, cgroupPids(dir))
}

func signalAll(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}

// cgroupPids lists the processes of dir and of its sub-cgroups (a hook
// running as root may make its own).
func cgroupPids(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		f, err := os.Open(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// removeCgroup removes dir and its sub-cgroups (all empty), deepest first.
func removeCgroup(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var err error
	for i := len(dirs) - 1; i >= 0; i-- {
		if e := os.Remove(dirs[i]); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = e
		}
	}
	return err
}

// describeProcess is "pid (command line)", the command line cut at 200
// bytes; a kernel thread or a process already gone shows its comm or
// nothing.
func describeProcess(pid int) string {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	cmd := strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
	if cmd == "" {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		cmd = "[" + strings.TrimSpace(string(comm)) + "]"
	}
	if len(cmd) > 200 {
		cmd = cmd[:200] + "…"
	}
	return fmt.Sprintf("%d (%s)", pid, cmd)
}

// trackReal prepares the cgroup of a real run's hook and sets cmd to start
// in it; nil when cgroups are unavailable (a warning says so). A previous
// hook's cgroup still populated is ended first, with a warning.
func (r *Runner) trackReal(p *proc, cmd *exec.Cmd) *hookCgroup {
	root, err := r.cgroupRoot()
	var cg *hookCgroup
	var ended []string
	if err == nil {
		cg, ended, err = openHookCgroup(root, p.ctid)
	}
	if len(ended) > 0 {
		p.warn(fmt.Sprintf("a previous run's hook of container %d was still running (phoenix ended before it did): ended %s first",
			p.ctid, strings.Join(ended, ", ")))
	}
	if err != nil {
		p.warn(fmt.Sprintf("cgroup v2 unavailable (%v): what the hook leaves running is ended only within its process group (setsid and nohup daemons escape it)", err))
		return nil
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(cg.fd.Fd())
	return cg
}

// cgroupStartFailed reports whether err of a start into a cgroup is the
// kernel refusing CLONE_INTO_CGROUP (not the hook failing to exec).
func cgroupStartFailed(err error) bool {
	for _, e := range []error{unix.ENOSYS, unix.EINVAL, unix.EOPNOTSUPP, unix.EBUSY, unix.EBADF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// endLeftovers ends what the hook left in its cgroup, with a warning
// naming each process.
func (p *proc) endLeftovers() {
	if p.cg == nil {
		return
	}
	ended, err := p.cg.end(p.grace)
	p.cg = nil
	if len(ended) > 0 {
		p.warn(fmt.Sprintf("the hook left %d process(es) running: ended %s (set hook_keep_processes: true to keep them)",
			len(ended), strings.Join(ended, ", ")))
	}
	if err != nil {
		p.warn(err.Error())
	}
}
