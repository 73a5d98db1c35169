package hooks

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ways out of a dry-run hook that issue 8 found, one probe each: a
// one-line hook run by the real shell runner in dry-run, and a witness on
// the host that must be unchanged afterwards. A probe marked control runs
// once more without the isolation (a real run against the fake backend):
// there its witness must see the change, which proves the witness can
// tell. Everything a control run changes on the host is restored in
// t.Cleanup.

// probeConnectName is argv[0] of the test binary as the probes' client:
// `phoenix-probe-connect tcp|unix ADDR` prints "connected" or why not.
const probeConnectName = "phoenix-probe-connect"

func probeConnectMain(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: phoenix-probe-connect tcp|unix ADDR")
		return 2
	}
	c, err := net.DialTimeout(args[1], args[2], 5*time.Second)
	if err != nil {
		fmt.Println("refused:", err)
		return 1
	}
	c.Close()
	fmt.Println("connected")
	return 0
}

// memCanary is the test process's own memory the mem probe writes to.
var memCanary = [8]byte{'o', 'r', 'i', 'g', 'i', 'n', 'a', 'l'}

// probeEnv is what a probe's hook line and witness use.
type probeEnv struct {
	t      *testing.T
	dir    string // a host temp dir
	client string // the probe client (symlink to the test binary)
	marker string // argv[0] a probe's leftover process takes
}

// probe is one way out.
type probe struct {
	name    string
	control bool
	// setup prepares the witness and returns the hook's line and a check
	// returning "" when the witness is unchanged, else what changed.
	setup func(e *probeEnv) (line string, changed func() string)
}

func canaryWitness(e *probeEnv) (path string, changed func() string) {
	path = filepath.Join(e.dir, "canary")
	require.NoError(e.t, os.WriteFile(path, []byte("original\n"), 0o644))
	return path, func() string {
		data, err := os.ReadFile(path)
		if err != nil || string(data) != "original\n" {
			return fmt.Sprintf("canary now %q (%v)", data, err)
		}
		return ""
	}
}

// acceptWitness reports whether ln saw a connection. A connection made
// before the hook ended is in the backlog: accept takes it at once.
func acceptWitness(e *probeEnv, ln net.Listener) func() string {
	e.t.Cleanup(func() { ln.Close() })
	return func() string {
		type deadliner interface{ SetDeadline(time.Time) error }
		_ = ln.(deadliner).SetDeadline(time.Now().Add(200 * time.Millisecond))
		if c, err := ln.Accept(); err == nil {
			c.Close()
			return "the listener accepted a connection"
		}
		return ""
	}
}

func tcpWitness(e *probeEnv) (addr string, changed func() string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(e.t, err)
	return ln.Addr().String(), acceptWitness(e, ln)
}

func unixWitness(e *probeEnv) (path string, changed func() string) {
	path = filepath.Join(e.dir, "host.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(e.t, err)
	return path, acceptWitness(e, ln)
}

// processWitness is a host process that records the signals it gets; it
// is stopped (SIGUSR2, recorded last) by the check.
func processWitness(e *probeEnv) (pid int, changed func() string) {
	log := filepath.Join(e.dir, "signals")
	ready := filepath.Join(e.dir, "ready")
	cmd := exec.Command("bash", "-c", `trap 'echo usr1 >> "$1"' USR1; trap 'echo usr2 >> "$1"; exit' USR2; touch "$2"; while :; do sleep 0.05; done`, "witness", log, ready)
	require.NoError(e.t, cmd.Start())
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	require.Eventually(e.t, func() bool { _, err := os.Stat(ready); return err == nil }, 10*time.Second, 10*time.Millisecond)
	return cmd.Process.Pid, func() string {
		_ = cmd.Process.Signal(syscall.SIGUSR2)
		_, _ = cmd.Process.Wait()
		data, _ := os.ReadFile(log)
		if string(data) != "usr2\n" {
			return fmt.Sprintf("the witness process recorded %q", data)
		}
		return ""
	}
}

// fileWitness checks that path holds what it holds now (absent stays absent).
func fileWitness(e *probeEnv, path string) func() string {
	before, errBefore := os.ReadFile(path)
	return func() string {
		after, err := os.ReadFile(path)
		if (err == nil) != (errBefore == nil) || !bytes.Equal(before, after) {
			return fmt.Sprintf("%s was %q, now %q", path, before, after)
		}
		return ""
	}
}

// restoreFile writes back path's content (a sysctl, the domain name) in
// cleanup if it changed.
func restoreFile(e *probeEnv, path string) func() string {
	before, err := os.ReadFile(path)
	require.NoError(e.t, err)
	e.t.Cleanup(func() {
		if now, _ := os.ReadFile(path); !bytes.Equal(now, before) {
			if err := os.WriteFile(path, before, 0o644); err != nil {
				e.t.Errorf("restore %s: %v", path, err)
			}
		}
	})
	return fileWitness(e, path)
}

// sysctlWitness is kernel.printk_ratelimit_burst: harmless, global (no
// namespace has its own), restored if a run changed it. It returns a
// value other than the current one.
func sysctlWitness(e *probeEnv) (path, value string, changed func() string) {
	path = "/proc/sys/kernel/printk_ratelimit_burst"
	changed = restoreFile(e, path)
	data, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return path, strconv.Itoa(n + 7), changed
}

// sysvIPC lists the host's System V IPC objects (msg, sem, shm); in
// cleanup, any a run made is removed.
func ipcWitness(e *probeEnv) func() string {
	read := func() map[string]bool {
		out := map[string]bool{}
		for _, kind := range []string{"msg", "sem", "shm"} {
			data, _ := os.ReadFile("/proc/sysvipc/" + kind)
			for _, line := range strings.Split(string(data), "\n")[1:] {
				if f := strings.Fields(line); len(f) > 1 {
					out[kind+" "+f[1]] = true
				}
			}
		}
		return out
	}
	before := read()
	flags := map[string]string{"msg": "-q", "sem": "-s", "shm": "-m"}
	e.t.Cleanup(func() {
		for k := range read() {
			if !before[k] {
				kind, id, _ := strings.Cut(k, " ")
				_ = exec.Command("ipcrm", flags[kind], id).Run()
			}
		}
	})
	return func() string {
		for k := range read() {
			if !before[k] {
				return "new IPC object on the host: " + k
			}
		}
		return ""
	}
}

// loopWitness attaches a loop device to a file and returns the device,
// its major:minor and a check of the file's content.
func loopWitness(e *probeEnv) (dev string, major, minor int, changed func() string) {
	backing := filepath.Join(e.dir, "loop.img")
	require.NoError(e.t, os.WriteFile(backing, bytes.Repeat([]byte("o"), 64<<10), 0o644))
	out, err := exec.Command("losetup", "--find", "--show", backing).Output()
	require.NoError(e.t, err, "losetup")
	dev = strings.TrimSpace(string(out))
	e.t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	data, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/dev")
	require.NoError(e.t, err)
	_, err = fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &major, &minor)
	require.NoError(e.t, err)
	return dev, major, minor, fileWitness(e, backing)
}

// losetupWitness checks that no loop device of the host is backed by a
// file it names (detached in cleanup if one is).
func losetupWitness(e *probeEnv) (file string, changed func() string) {
	file = filepath.Join(e.dir, "attach.img")
	require.NoError(e.t, os.WriteFile(file, make([]byte, 64<<10), 0o644))
	attached := func() []string {
		var devs []string
		paths, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(data)) == file {
				devs = append(devs, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(p))))
			}
		}
		return devs
	}
	e.t.Cleanup(func() {
		for _, d := range attached() {
			_ = exec.Command("losetup", "-d", d).Run()
		}
	})
	return file, func() string {
		if d := attached(); len(d) > 0 {
			return fmt.Sprintf("loop device %v attached on the host", d)
		}
		return ""
	}
}

// daemonWitness checks that no process named e.marker runs on the host
// once the hook ended (it would write later); leftovers are killed in
// cleanup.
func daemonWitness(e *probeEnv) func() string {
	e.t.Cleanup(func() {
		for _, pid := range hostProcesses(e.marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return func() string {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if len(hostProcesses(e.marker)) == 0 {
				return ""
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Sprintf("the hook's daemon still runs on the host: %v", hostProcesses(e.marker))
	}
}

// cgroup2Root is where the host's cgroup2 hierarchy is mounted.
func cgroup2Root(t *testing.T) string {
	mounts, err := readMountinfo()
	require.NoError(t, err)
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			return m.Point
		}
	}
	t.Skip("no cgroup2 hierarchy on this host")
	return ""
}

// removeDirWitness checks that dir does not come to exist; it is removed in
// cleanup if it does.
func removeDirWitness(e *probeEnv, dir string) func() string {
	e.t.Cleanup(func() { _ = os.Remove(dir) })
	return func() string {
		if _, err := os.Stat(dir); err == nil {
			return dir + " was created on the host"
		}
		return ""
	}
}

var probes = []probe{
	{"write a host file", true, func(e *probeEnv) (string, func() string) {
		p, w := canaryWitness(e)
		return "echo x >> " + p, w
	}},
	{"write through /proc/PPID/root", true, func(e *probeEnv) (string, func() string) {
		p, w := canaryWitness(e)
		return "echo x >> /proc/$PPID/root" + p, w
	}},
	{"write through /proc/1/root", false, func(e *probeEnv) (string, func() string) {
		p, w := canaryWitness(e)
		return "echo x >> /proc/1/root" + p, w
	}},
	{"write through /proc/PHOENIX/root", true, func(e *probeEnv) (string, func() string) {
		p, w := canaryWitness(e)
		return fmt.Sprintf("echo x >> /proc/%d/root%s", os.Getpid(), p), w
	}},
	{"nsenter -t PPID -m", true, func(e *probeEnv) (string, func() string) {
		p, w := canaryWitness(e)
		return "nsenter -t $PPID -m sh -c 'echo x >> " + p + "'", w
	}},
	{"nsenter -t PPID -n to a loopback listener", true, func(e *probeEnv) (string, func() string) {
		addr, w := tcpWitness(e)
		return "nsenter -t $PPID -n " + e.client + " tcp " + addr, w
	}},
	{"connect to a loopback listener", true, func(e *probeEnv) (string, func() string) {
		addr, w := tcpWitness(e)
		return e.client + " tcp " + addr, w
	}},
	{"bash /dev/tcp to a loopback listener", true, func(e *probeEnv) (string, func() string) {
		addr, w := tcpWitness(e)
		host, port, _ := net.SplitHostPort(addr)
		return "exec 3<>/dev/tcp/" + host + "/" + port, w
	}},
	{"unix socket by its path", false, func(e *probeEnv) (string, func() string) {
		p, w := unixWitness(e)
		return e.client + " unix " + p, w
	}},
	{"unix socket by /proc/PHOENIX/root", true, func(e *probeEnv) (string, func() string) {
		p, w := unixWitness(e)
		return fmt.Sprintf("%s unix /proc/%d/root%s", e.client, os.Getpid(), p), w
	}},
	{"kill -USR1 a host process", true, func(e *probeEnv) (string, func() string) {
		pid, w := processWitness(e)
		return fmt.Sprintf("kill -USR1 %d", pid), w
	}},
	{"write /proc/PID/oom_score_adj", true, func(e *probeEnv) (string, func() string) {
		pid, w := processWitness(e)
		oom := fileWitness(e, fmt.Sprintf("/proc/%d/oom_score_adj", pid))
		return fmt.Sprintf("echo 999 > /proc/%d/oom_score_adj", pid), func() string {
			if c := oom(); c != "" { // read while the witness still runs
				return c
			}
			return w()
		}
	}},
	{"write /proc/PHOENIX/mem", true, func(e *probeEnv) (string, func() string) {
		addr := uintptr(unsafe.Pointer(&memCanary[0]))
		before := memCanary
		e.t.Cleanup(func() { memCanary = before })
		return fmt.Sprintf("printf XXXXXXXX | dd of=/proc/%d/mem bs=1 seek=%d conv=notrunc status=none", os.Getpid(), addr),
			func() string {
				runtime.KeepAlive(&memCanary)
				if memCanary != before {
					return fmt.Sprintf("the test's memory now %q", memCanary[:])
				}
				return ""
			}
	}},
	{"ipcmk", true, func(e *probeEnv) (string, func() string) {
		return "ipcmk -Q && ipcmk -M 4096 && ipcmk -S 1", ipcWitness(e)
	}},
	{"domainname", true, func(e *probeEnv) (string, func() string) {
		return "domainname phoenix-probe", restoreFile(e, "/proc/sys/kernel/domainname")
	}},
	{"hostname", false, func(e *probeEnv) (string, func() string) {
		return "hostname phoenix-probe", restoreFile(e, "/proc/sys/kernel/hostname")
	}},
	{"mount -o remount rw /proc/sys and a sysctl", true, func(e *probeEnv) (string, func() string) {
		p, v, w := sysctlWitness(e)
		return "mount -o remount,rw /proc/sys; mount -o remount,rw /proc; echo " + v + " > " + p, w
	}},
	{"mount -t proc and a sysctl", true, func(e *probeEnv) (string, func() string) {
		p, v, w := sysctlWitness(e)
		mnt := filepath.Join(e.dir, "proc")
		require.NoError(e.t, os.Mkdir(mnt, 0o755))
		e.t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
		return "mount -t proc proc " + mnt + " && echo " + v + " > " + mnt + strings.TrimPrefix(p, "/proc"), w
	}},
	{"mount -t cgroup2 and a cgroup", true, func(e *probeEnv) (string, func() string) {
		name := e.marker
		w := removeDirWitness(e, filepath.Join(cgroup2Root(e.t), name))
		mnt := filepath.Join(e.dir, "cg")
		require.NoError(e.t, os.Mkdir(mnt, 0o755))
		e.t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
		return "mount -t cgroup2 none " + mnt + " && mkdir " + mnt + "/" + name, w
	}},
	{"mkdir in the host cgroup2", true, func(e *probeEnv) (string, func() string) {
		dir := filepath.Join(cgroup2Root(e.t), e.marker)
		return "mkdir " + dir, removeDirWitness(e, dir)
	}},
	{"mknod of a block device", true, func(e *probeEnv) (string, func() string) {
		_, major, minor, w := loopWitness(e)
		node := filepath.Join(e.dir, "blk")
		return fmt.Sprintf("mknod %s b %d %d && printf XXXX | dd of=%s conv=notrunc,fsync status=none", node, major, minor, node), w
	}},
	{"write a host block device by its /dev path", true, func(e *probeEnv) (string, func() string) {
		dev, _, _, w := loopWitness(e)
		return "printf XXXX | dd of=" + dev + " conv=notrunc,fsync status=none", w
	}},
	{"losetup of a file", true, func(e *probeEnv) (string, func() string) {
		f, w := losetupWitness(e)
		return "losetup -f " + f, w
	}},
	{"/dev/shm file", true, func(e *probeEnv) (string, func() string) {
		p := filepath.Join("/dev/shm", e.marker)
		e.t.Cleanup(func() { _ = os.Remove(p) })
		return "echo x > " + p, fileWitness(e, p)
	}},
	{"setsid daemon", false, func(e *probeEnv) (string, func() string) {
		p, w := canaryWitness(e)
		d := daemonWitness(e)
		return "setsid bash -c 'exec -a " + e.marker + " bash -c \"sleep 0.5; echo x >> " + p + "\"' </dev/null >/dev/null 2>&1 &", func() string {
			if c := d(); c != "" {
				return c
			}
			return w()
		}
	}},
	{"nohup daemon", false, func(e *probeEnv) (string, func() string) {
		p, w := canaryWitness(e)
		d := daemonWitness(e)
		return "nohup bash -c 'exec -a " + e.marker + " bash -c \"sleep 0.5; echo x >> " + p + "\"' </dev/null >/dev/null 2>&1 &", func() string {
			if c := d(); c != "" {
				return c
			}
			return w()
		}
	}},
}

// TestDryRunProbes runs every probe in dry-run (the witness must be
// unchanged) and, for a control probe, for real (it must change).
func TestDryRunProbes(t *testing.T) {
	requireRoot(t)
	t.Logf("%d probes", len(probes))
	for _, pr := range probes {
		t.Run(pr.name, func(t *testing.T) {
			for _, dry := range []bool{true, false} {
				if !dry && !pr.control {
					continue
				}
				changed, out := runProbe(t, pr, dry)
				t.Logf("dry-run=%v: output %q", dry, out)
				if dry {
					assert.Empty(t, changed, "dry-run hook %q changed the host; its output: %q", pr.name, out)
				} else {
					assert.NotEmpty(t, changed, "control: run for real, %q left its witness unchanged (the witness cannot tell); output: %q", pr.name, out)
				}
			}
		})
	}
}

// runProbe runs pr's hook (dry-run or for real) and returns what its
// witness saw change ("" nothing) and the hook's output.
func runProbe(t *testing.T, pr probe, dry bool) (string, []string) {
	e := &probeEnv{t: t, dir: t.TempDir(), marker: probeMarker(t)}
	e.client = filepath.Join(e.dir, probeConnectName)
	exe, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.Symlink(exe, e.client))
	line, changed := pr.setup(e)
	f := newShellFixture(t, 940)
	f.hook(t, "#!/bin/bash\n"+line+"\n")
	req := f.req()
	req.DryRun = dry
	req.Timeout = time.Minute
	// The hook's own result does not matter (most probes fail inside):
	// only the witness does.
	_ = f.runner.Run(context.Background(), req)
	return changed(), f.events.output("")
}
