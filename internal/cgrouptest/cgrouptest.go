// Package cgrouptest gives tests a cgroup v2 dir of their own, below the
// test process's own cgroup, for the hooks' cgroups (hooks.Options.CgroupRoot,
// $PHOENIX_HOOK_CGROUP): tests that run the same container's hook at once
// must not see each other's cgroups, and none is left on the host.
package cgrouptest

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var seq atomic.Int64

// New makes an empty cgroup below the test process's own and returns it
// with its cleanup: every process left in it (or below) is killed and the
// dirs removed. Without cgroup v2 or root, it returns a plain temp dir
// (the hooks then warn and fall back to the process group).
func New() (dir string, cleanup func(), err error) {
	name := fmt.Sprintf("phoenix-test-%d-%d", os.Getpid(), seq.Add(1))
	mount, own, err := self()
	if err != nil || os.Geteuid() != 0 {
		dir, err := os.MkdirTemp("", name)
		return dir, func() { os.RemoveAll(dir) }, err
	}
	dir = filepath.Join(mount, own, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", nil, err
	}
	return dir, func() { Remove(dir) }, nil
}

// Dir is New for a test: the cleanup runs when t ends.
func Dir(t testing.TB) string {
	t.Helper()
	dir, cleanup, err := New()
	if err != nil {
		t.Fatalf("test cgroup: %v", err)
	}
	t.Cleanup(cleanup)
	return dir
}

// Remove kills what runs in dir (and below) and removes the dirs, deepest
// first.
func Remove(dir string) {
	for i := 0; i < 200; i++ {
		pids := procs(dir)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i])
	}
}

func procs(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// self returns the cgroup2 mount point and this process's cgroup path.
func self() (mount, own string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, _ := strings.Cut(sc.Text(), " - ")
		if a, b := strings.Fields(pre), strings.Fields(post); len(a) > 4 && len(b) > 0 && b[0] == "cgroup2" {
			mount = a[4]
			break
		}
	}
	if mount == "" {
		return "", "", errors.New("no cgroup2 mount")
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return mount, p, nil
		}
	}
	return "", "", errors.New("no cgroup v2 entry in /proc/self/cgroup")
}
