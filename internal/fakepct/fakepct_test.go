package fakepct

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newFake(t *testing.T) *Fake {
	t.Helper()
	n := 0
	return &Fake{StateDir: t.TempDir(), Now: func() time.Time {
		n++
		return time.Date(2025, 9, 1, 10, n, 0, 0, time.Local)
	}}
}

type out struct {
	code           int
	stdout, stderr string
}

func runIn(f *Fake, stdin string, args ...string) out {
	var so, se strings.Builder
	code := f.Run(args, strings.NewReader(stdin), &so, &se)
	return out{code, so.String(), se.String()}
}

func run(t *testing.T, f *Fake, args ...string) out {
	t.Helper()
	return runIn(f, "", args...)
}

func ok(t *testing.T, f *Fake, args ...string) string {
	t.Helper()
	o := run(t, f, args...)
	require.Equal(t, 0, o.code, "pct %v: %s", args, o.stderr)
	return o.stdout
}

func refused(t *testing.T, f *Fake, msg string, args ...string) {
	t.Helper()
	o := run(t, f, args...)
	assert.Equal(t, 255, o.code, "pct %v", args)
	assert.Contains(t, o.stderr, msg, "pct %v", args)
}

func TestMainWithoutStateExits2(t *testing.T) {
	t.Setenv("FAKE_PCT_STATE", "")
	var se strings.Builder
	code := Main([]string{"list"}, strings.NewReader(""), &strings.Builder{}, &se)
	assert.Equal(t, 2, code)
	assert.Contains(t, se.String(), "FAKE_PCT_STATE is not set")
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{"FAKE_PCT_STATE": "/x", "FAKE_PCT_FAIL": "create:901", "FAKE_PCT_DELAY": "5ms"}
	f, err := FromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, &Fake{StateDir: "/x", Fail: "create:901", Delay: 5 * time.Millisecond}, f)
	env["FAKE_PCT_DELAY"] = "soon"
	_, err = FromEnv(func(k string) string { return env[k] })
	assert.ErrorContains(t, err, "Go duration")
}

func TestCreateStoresConfigTheProxmoxWay(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "local:vztmpl/ubuntu-24.04.tar.zst", "--hostname", "gpu", "--memory", "2048",
		"--cores", "4", "--rootfs", "local-lvm:32", "--features", "nesting=1,keyctl=1", "--unprivileged", "1",
		"--net0", "name=eth0,ip=10.0.0.10/24,bridge=vmbr0,gw=10.0.0.1", "--storage", "local-lvm")
	cfg := ok(t, f, "config", "901")
	want := "cores: 4\n" +
		"features: keyctl=1,nesting=1\n" +
		"hostname: gpu\n" +
		"memory: 2048\n" +
		"net0: name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=" + mac(901, "net0") + ",ip=10.0.0.10/24,type=veth\n" +
		"ostemplate: local:vztmpl/ubuntu-24.04.tar.zst\n" +
		"rootfs: local-lvm:vm-901-disk-0,size=32G\n" +
		"unprivileged: 1\n"
	assert.Equal(t, want, cfg)
	assert.Regexp(t, `^BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2}$`, mac(901, "net0"))
	assert.Equal(t, mac(901, "net0"), mac(901, "net0"), "stable")
	assert.DirExists(t, RootfsPath(f.StateDir, 901))
	assert.FileExists(t, filepath.Join(f.StateDir, "901.json"), "the e2e tests rely on <state>/<ctid>.json")
}

func TestCreateDefaults(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "902", "t", "--unprivileged", "0", "--net0", "name=eth0,hwaddr=AA:BB:CC:DD:EE:FF,type=veth")
	cfg := ok(t, f, "config", "902")
	assert.Equal(t, "net0: name=eth0,hwaddr=AA:BB:CC:DD:EE:FF,type=veth\nostemplate: t\nrootfs: local:vm-902-disk-0,size=4G\n", cfg)
}

func TestCreateRefusals(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t")
	refused(t, f, "unable to create CT 901 - CT 901 already exists on node 'fake'", "create", "901", "t")
	refused(t, f, "Unknown option: colour", "create", "903", "t", "--colour", "red")
	refused(t, f, "invalid format", "create", "99", "t")
	refused(t, f, "not enough arguments", "create", "904")
	refused(t, f, "unknown command 'pct frobnicate'", "frobnicate")
}

func TestMissingContainer(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for _, args := range [][]string{{"status", "950"}, {"config", "950"}, {"start", "950"}, {"stop", "950"},
		{"listsnapshot", "950"}, {"set", "950", "--cores", "2"}, {"destroy", "950"}, {"exec", "950", "--", "true"},
		{"clone", "950", "951"}, {"snapshot", "950", "s1"}} {
		refused(t, f, "Configuration file 'nodes/fake/lxc/950.conf' does not exist", args...)
	}
}

func TestStartStopStatus(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t")
	assert.Equal(t, "status: stopped\n", ok(t, f, "status", "901"))
	refused(t, f, "CT 901 not running", "stop", "901")
	refused(t, f, "CT 901 not running", "shutdown", "901", "--timeout", "10")
	ok(t, f, "start", "901")
	assert.Equal(t, "status: running\n", ok(t, f, "status", "901"))
	refused(t, f, "CT 901 already running", "start", "901")
	refused(t, f, "CT 901 is running - destroy failed", "destroy", "901")
	ok(t, f, "shutdown", "901", "--timeout", "30", "--forceStop")
	ok(t, f, "start", "901")
	ok(t, f, "stop", "901")
	ok(t, f, "destroy", "901")
	refused(t, f, "does not exist", "status", "901")
	assert.NoDirExists(t, RootfsPath(f.StateDir, 901))
	assert.NoFileExists(t, ConfPath(f.StateDir, 901))
}

func TestDestroyOfATemplateWaitsForItsLinkedClones(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "900", "t", "--rootfs", "local:8")
	ok(t, f, "template", "900")
	ok(t, f, "clone", "900", "901")
	ok(t, f, "clone", "900", "902", "--full")
	refused(t, f, "base volume 'local:base-900-disk-0' is still in use by linked cloned", "destroy", "900", "--purge")
	ok(t, f, "destroy", "902", "--purge") // a full clone does not hold the template
	refused(t, f, "still in use by linked cloned", "destroy", "900")
	ok(t, f, "destroy", "901", "--purge")
	ok(t, f, "destroy", "900", "--purge")
}

func TestList(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	assert.Equal(t, "", ok(t, f, "list"), "nothing at all on an empty host")
	ok(t, f, "create", "901", "t", "--hostname", "gpu")
	ok(t, f, "create", "120", "t", "--hostname", "dns")
	ok(t, f, "start", "901")
	ct, err := Load(f.StateDir, 120)
	require.NoError(t, err)
	ct.Lock = "backup"
	require.NoError(t, Save(f.StateDir, 120, ct))
	want := "VMID       Status     Lock         Name                \n" +
		"120        stopped    backup       dns                 \n" +
		"901        running                 gpu                 \n"
	assert.Equal(t, want, ok(t, f, "list"))
}

func TestLockRefusesChanges(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t")
	require.NoError(t, Save(f.StateDir, 901, &Container{Config: map[string]string{"hostname": "x"}, Lock: "backup"}))
	for _, args := range [][]string{{"set", "901", "--cores", "2"}, {"start", "901"}, {"snapshot", "901", "s1"},
		{"destroy", "901"}, {"clone", "901", "902"}, {"template", "901"}} {
		refused(t, f, "CT is locked (backup)", args...)
	}
	assert.Contains(t, ok(t, f, "config", "901"), "lock: backup\n")
	ok(t, f, "unlock", "901")
	ok(t, f, "set", "901", "--cores", "2")
}

func TestSetAndDelete(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t", "--swap", "512", "--memory", "1024")
	ok(t, f, "set", "901", "--memory=2048", "--dev0", "/dev/nvidia0,mode=0666", "--delete", "swap",
		"--net0", "name=eth0,ip=dhcp,bridge=vmbr0")
	cfg := ok(t, f, "config", "901")
	assert.Contains(t, cfg, "memory: 2048\n")
	assert.Contains(t, cfg, "dev0: /dev/nvidia0,mode=0666\n")
	assert.Contains(t, cfg, "net0: name=eth0,bridge=vmbr0,hwaddr=")
	assert.NotContains(t, cfg, "swap:")
}

func TestSnapshotsTree(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "900", "t")
	want := "`-> current                                             You are here!\n"
	assert.Equal(t, want, ok(t, f, "listsnapshot", "900"))
	ok(t, f, "snapshot", "900", "base-snapshot")
	ok(t, f, "snapshot", "900", "second", "--description", "after docker")
	refused(t, f, "snapshot name 'second' already used", "snapshot", "900", "second")
	refused(t, f, "invalid format", "snapshot", "900", "1bad")
	want = "`-> base-snapshot               2025-09-01 10:01:00     no-description\n" +
		"  `-> second                    2025-09-01 10:02:00     after docker\n" +
		"    `-> current                                         You are here!\n"
	assert.Equal(t, want, ok(t, f, "listsnapshot", "900"))

	ok(t, f, "rollback", "900", "base-snapshot")
	ok(t, f, "snapshot", "900", "third")
	want = "`-> base-snapshot               2025-09-01 10:01:00     no-description\n" +
		"  `-> second                    2025-09-01 10:02:00     after docker\n" +
		"  `-> third                     2025-09-01 10:03:00     no-description\n" +
		"    `-> current                                         You are here!\n"
	assert.Equal(t, want, ok(t, f, "listsnapshot", "900"))

	ok(t, f, "delsnapshot", "900", "base-snapshot")
	refused(t, f, "snapshot 'base-snapshot' does not exist", "delsnapshot", "900", "base-snapshot")
	want = "`-> second                      2025-09-01 10:02:00     after docker\n" +
		"`-> third                       2025-09-01 10:03:00     no-description\n" +
		"  `-> current                                           You are here!\n"
	assert.Equal(t, want, ok(t, f, "listsnapshot", "900"))
}

func TestRollbackRestoresConfigAndRootfs(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "900", "t", "--memory", "512", "--start", "1")
	push(t, f, 900, "/etc/marker", "v1")
	ok(t, f, "snapshot", "900", "s1")
	ok(t, f, "set", "900", "--memory", "4096")
	push(t, f, 900, "/etc/marker", "v2")
	ok(t, f, "rollback", "900", "s1")
	assert.Contains(t, ok(t, f, "config", "900"), "memory: 512\n")
	assert.Equal(t, "status: stopped\n", ok(t, f, "status", "900"))
	ok(t, f, "start", "900")
	assert.Equal(t, "v1", ok(t, f, "exec", "900", "--", "cat", "/etc/marker"))
}

func push(t *testing.T, f *Fake, ctid int, dest, content string, opts ...string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.WriteFile(src, []byte(content), 0o600))
	ok(t, f, append([]string{"push", fmt.Sprint(ctid), src, dest}, opts...)...)
}

func TestClone(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "900", "t", "--hostname", "tmpl", "--rootfs", "local-lvm:16", "--net0", "name=eth0,bridge=vmbr0", "--start", "1")
	push(t, f, 900, "/etc/from-template", "yes")
	refused(t, f, "snapshot 'base' does not exist", "clone", "900", "902", "--snapname", "base")
	ok(t, f, "snapshot", "900", "base")
	push(t, f, 900, "/etc/after-snapshot", "late")
	ok(t, f, "clone", "900", "902", "--snapname", "base", "--hostname", "child", "--full")
	refused(t, f, "CT 902 already exists on node 'fake'", "clone", "900", "902")

	cfg := ok(t, f, "config", "902")
	assert.Contains(t, cfg, "hostname: child\n")
	assert.Contains(t, cfg, "rootfs: local-lvm:vm-902-disk-0,size=16G\n")
	assert.Contains(t, cfg, "hwaddr="+mac(902, "net0"))
	assert.Equal(t, "status: stopped\n", ok(t, f, "status", "902"))
	assert.Contains(t, ok(t, f, "listsnapshot", "902"), "`-> current")
	assert.NotContains(t, ok(t, f, "listsnapshot", "902"), "base")

	ok(t, f, "start", "902")
	assert.Equal(t, "yes", ok(t, f, "exec", "902", "--", "cat", "/etc/from-template"))
	o := run(t, f, "exec", "902", "--", "cat", "/etc/after-snapshot")
	assert.Equal(t, 1, o.code, "the clone is of the snapshot, not of the current state")
}

func TestTemplate(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "900", "t", "--rootfs", "local-lvm:8")
	ok(t, f, "template", "900")
	cfg := ok(t, f, "config", "900")
	assert.Contains(t, cfg, "template: 1\n")
	assert.Contains(t, cfg, "rootfs: local-lvm:base-900-disk-0,size=8G\n")
	refused(t, f, "template", "start", "900")
	ok(t, f, "clone", "900", "905")
	assert.Contains(t, ok(t, f, "config", "905"), "rootfs: local-lvm:vm-905-disk-0,size=8G\n")
	assert.NotContains(t, ok(t, f, "config", "905"), "template: 1")
}

func TestRawLinesFromConf(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t", "--hostname", "gpu")
	conf, err := os.ReadFile(ConfPath(f.StateDir, 901))
	require.NoError(t, err)
	assert.Contains(t, string(conf), "hostname: gpu\n")
	fh, err := os.OpenFile(ConfPath(f.StateDir, 901), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fh.WriteString("lxc.cgroup2.devices.allow: c 195:* rwm\nlxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file\n")
	require.NoError(t, err)
	require.NoError(t, fh.Close())

	ok(t, f, "set", "901", "--cores", "2") // rewrites the key lines, keeps the raw ones
	want := "cores: 2\nhostname: gpu\nostemplate: t\nrootfs: local:vm-901-disk-0,size=4G\nunprivileged: 1\n" +
		"lxc.cgroup2.devices.allow: c 195:* rwm\nlxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file\n"
	assert.Equal(t, want, ok(t, f, "config", "901"))
	ok(t, f, "clone", "901", "903")
	assert.Contains(t, ok(t, f, "config", "903"), "lxc.cgroup2.devices.allow: c 195:* rwm\n")
}

func TestPushAndCat(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t")
	src := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(src, []byte("hello\n"), 0o600))
	refused(t, f, "CT 901 not running", "push", "901", src, "/etc/motd")
	ok(t, f, "start", "901")
	ok(t, f, "push", "901", src, "/etc/motd", "--perms", "0600")
	info, err := os.Stat(filepath.Join(RootfsPath(f.StateDir, 901), "etc/motd"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	assert.Equal(t, "hello\n", ok(t, f, "exec", "901", "--", "cat", "/etc/motd"))
	refused(t, f, "unable to open file", "push", "901", filepath.Join(t.TempDir(), "missing"), "/x")
	ok(t, f, "push", "901", src, "../../../escape")
	assert.FileExists(t, filepath.Join(RootfsPath(f.StateDir, 901), "escape"), "'..' stays inside the rootfs")
}

func TestExecRequiresDashDashAndRunning(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t")
	refused(t, f, "container '901' not running!", "exec", "901", "--", "true")
	ok(t, f, "start", "901")
	refused(t, f, "Unknown option", "exec", "901", "ls")
	refused(t, f, "Unknown option: c", "exec", "901", "sh", "-c", "true")
	ok(t, f, "exec", "901", "--keep-env", "0", "--", "true")
}

func TestExecAnswers(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t", "--start", "1")
	ex := func(stdin string, cmd ...string) out {
		return runIn(f, stdin, append([]string{"exec", "901", "--"}, cmd...)...)
	}
	assert.Equal(t, out{0, "", ""}, ex("", "true"))
	assert.Equal(t, out{1, "", ""}, ex("", "false"))
	assert.Equal(t, out{1, "", "cat: /nope: No such file or directory\n"}, ex("", "cat", "/nope"))
	assert.Equal(t, out{0, "from stdin", ""}, ex("from stdin", "cat"))
	assert.Equal(t, out{0, "", ""}, ex("", "apt-get", "install", "-y", "curl"), "anything else succeeds")
	assert.Equal(t, 1, ex("", "test", "-f", "/usr/bin/docker").code)

	assert.Equal(t, out{127, "", "nvidia-smi: command not found\n"}, ex("", "nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"))
	assert.Equal(t, 0, ex("", "env", "NVIDIA_VERSION=550.54.14", "sh", "-c", TagInstallNvidia+" 550.54.14\nset -e\n./install.run").code)
	assert.Equal(t, out{0, "550.54.14\n", ""}, ex("", "nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"))

	assert.Equal(t, 127, ex("", "nvidia-ctk", "--version").code)
	ex("", "sh", "-c", TagInstallNvidiaToolkit+"\napt-get install -y nvidia-container-toolkit")
	assert.Equal(t, 0, ex("", "nvidia-ctk", "--version").code)

	assert.Equal(t, 127, ex("", "docker", "info").code)
	ex("", "bash", "-c", TagInstallDocker+"\ncurl https://get.docker.com | sh")
	assert.Equal(t, 0, ex("", "docker", "info").code)
	assert.Equal(t, 0, ex("", "test", "-f", "/usr/bin/docker").code)
	assert.Equal(t, out{1, "[]\n", "Error: No such object: portainer\n"}, ex("", "docker", "inspect", "portainer"), "as docker prints it")
	assert.Equal(t, 0, ex("", "docker", "run", "-d", "--name", "portainer", "-p", "9443:9443", "portainer/portainer-ce").code)
	assert.Equal(t, 0, ex("", "docker", "inspect", "portainer").code)
}

func TestExecRules(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t", "--start", "1")
	ok(t, f, "create", "902", "t", "--start", "1")
	require.NoError(t, WriteExecRules(f.StateDir, []ExecRule{
		{Match: `^systemctl is-active ollama$`, CTID: 902, Stdout: "inactive\n", Code: 3},
		{Match: `^systemctl is-active`, Stdout: "active\n"},
		{Match: `^true$`, Code: 42, Stderr: "scripted\n"},
		{Match: `^slow`, Sleep: "30ms"},
	}))
	assert.Equal(t, out{3, "inactive\n", ""}, run(t, f, "exec", "902", "--", "systemctl", "is-active", "ollama"))
	assert.Equal(t, out{0, "active\n", ""}, run(t, f, "exec", "901", "--", "env", "A=1", "systemctl", "is-active", "ollama"))
	assert.Equal(t, out{42, "", "scripted\n"}, run(t, f, "exec", "901", "--", "true"), "rules are checked first")
	start := time.Now()
	ok(t, f, "exec", "901", "--", "slow")
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
}

func TestInjectedFailure(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.Fail = "create:910, start:*,clone:902"
	refused(t, f, "fake failure injected", "create", "910", "t")
	ok(t, f, "create", "900", "t")
	refused(t, f, "fake failure injected", "start", "900")
	refused(t, f, "fake failure injected", "clone", "900", "902")
	ok(t, f, "clone", "900", "903")
	st, err := Load(f.StateDir, 910)
	require.NoError(t, err)
	assert.Nil(t, st, "an injected failure changes nothing")
}

func TestCallsLogConcurrent(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runIn(f, "", "create", fmt.Sprint(900+i), "local:vztmpl/x.tar.zst", "--hostname", fmt.Sprintf("ct %d", i))
		}()
	}
	wg.Wait()
	refused(t, f, "already exists", "create", "900", "t")
	calls, err := ReadCalls(f.StateDir)
	require.NoError(t, err)
	require.Len(t, calls, n+1)
	assert.Equal(t, []string{"create", "900", "t"}, calls[n])
	ids, err := listIDs(f.StateDir)
	require.NoError(t, err)
	assert.Len(t, ids, n)
	assert.True(t, Mutating(calls[0]))
	assert.False(t, Mutating([]string{"listsnapshot", "900"}))
}

func TestPushNeedsTheDirectory(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t", "--start", "1")
	src := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(src, []byte("x"), 0o600))
	refused(t, f, "failed to open /etc/phoenix/hook-901.sha256 for writing: No such file or directory",
		"push", "901", src, "/etc/phoenix/hook-901.sha256")
	ok(t, f, "push", "901", src, "/etc/systemd/system/vllm.service")

	ex := func(cmd ...string) out { return run(t, f, append([]string{"exec", "901", "--"}, cmd...)...) }
	assert.Equal(t, out{1, "", "mkdir: cannot create directory '/a/b': No such file or directory\n"}, ex("mkdir", "/a/b"))
	assert.Equal(t, out{1, "", "mkdir: cannot create directory '/etc': File exists\n"}, ex("mkdir", "/etc"))
	assert.Equal(t, out{0, "", ""}, ex("mkdir", "-p", "-m", "0755", "/etc/phoenix"))
	ok(t, f, "push", "901", src, "/etc/phoenix/hook-901.sha256")
	assert.Equal(t, 0, ex("test", "-d", "/etc/phoenix").code)
}

func TestNvidiaSmiListsPassedThroughGPUs(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "901", "t", "--start", "1", "--dev0", "/dev/nvidia0,mode=0666", "--dev1", "path=/dev/nvidia1",
		"--dev2", "/dev/nvidiactl", "--dev3", "/dev/nvidia-uvm")
	ok(t, f, "exec", "901", "--", "sh", "-c", TagInstallNvidia+" 580.76.06\n")
	assert.Equal(t, "0, NVIDIA Fake GPU, 580.76.06\n1, NVIDIA Fake GPU, 580.76.06\n",
		ok(t, f, "exec", "901", "--", "nvidia-smi", "--query-gpu=index,name,driver_version", "--format=csv,noheader"))
	assert.Equal(t, "580.76.06\n580.76.06\n",
		ok(t, f, "exec", "901", "--", "nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"))
	assert.Equal(t, "0, [N/A]\n1, [N/A]\n",
		ok(t, f, "exec", "901", "--", "nvidia-smi", "--query-gpu=index,memory.total", "--format=csv,noheader"))

	ok(t, f, "create", "902", "t", "--start", "1")
	fh, err := os.OpenFile(ConfPath(f.StateDir, 902), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fh.WriteString("lxc.mount.entry: /dev/nvidia2 dev/nvidia2 none bind,optional,create=file\nlxc.mount.entry: /dev/nvidiactl dev/nvidiactl none bind,optional,create=file\n")
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	ok(t, f, "exec", "902", "--", "sh", "-c", TagInstallNvidia+" 550.1\n")
	assert.Equal(t, "0, 550.1\n", ok(t, f, "exec", "902", "--", "nvidia-smi", "--query-gpu=index,driver_version", "--format=csv,noheader"),
		"one legacy GPU, indexed from 0 inside the container")
	ok(t, f, "create", "903", "t", "--start", "1")
	ok(t, f, "exec", "903", "--", "sh", "-c", TagInstallNvidia+" 550.1\n")
	assert.Equal(t, "550.1\n", ok(t, f, "exec", "903", "--", "nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"),
		"at least one GPU")
}

func TestDockerInspectFormat(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "910", "t", "--start", "1")
	ok(t, f, "exec", "910", "--", "sh", "-c", TagInstallDocker)
	ok(t, f, "exec", "910", "--", "docker", "run", "-d", "--name=portainer", "portainer/portainer-ce:latest")
	assert.Equal(t, "true\n", ok(t, f, "exec", "910", "--", "docker", "inspect", "--format", "{{.State.Running}}", "portainer"))
	assert.Equal(t, "running /portainer <no value>\n", ok(t, f, "exec", "910", "--", "docker", "inspect", "-f", "{{ .State.Status }} {{.Name}} {{.Id}}", "portainer"))
	assert.Equal(t, `[{"Name":"/portainer","State":{"Status":"running","Running":true}}]`+"\n", ok(t, f, "exec", "910", "--", "docker", "inspect", "portainer"))
	o := run(t, f, "exec", "910", "--", "docker", "inspect", "--format={{.State.Running}}", "portainer", "agent")
	assert.Equal(t, out{1, "true\n", "Error: No such object: agent\n"}, o)
}

// As in Proxmox, a clone locks its source ("disk") while it copies: a
// second clone of that source meanwhile is refused; afterwards the source
// is unlocked and can be cloned again.
func TestCloneLocksItsSource(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "900", "t", "--rootfs", "local-lvm:8")
	slow := &Fake{StateDir: f.StateDir, Delay: 400 * time.Millisecond}
	first := make(chan out, 1)
	go func() { first <- runIn(slow, "", "clone", "900", "901") }()
	require.Eventually(t, func() bool {
		return strings.Contains(ok(t, f, "config", "900"), "lock: disk\n")
	}, 2*time.Second, 5*time.Millisecond, "the source is locked while the clone copies")
	refused(t, f, "CT is locked (disk)", "clone", "900", "902")
	o := <-first
	require.Equal(t, 0, o.code, o.stderr)
	assert.NotContains(t, ok(t, f, "config", "900"), "lock:")
	ok(t, f, "clone", "900", "902")

	refused(t, f, "does not exist", "clone", "999", "903")
	assert.NotContains(t, ok(t, f, "list"), "disk", "a refused clone leaves no lock behind")
}

// TestCloneToAnotherStorage: a full clone with --storage has its disks
// there; a linked clone (of a template, without --full) refuses it.
func TestCloneToAnotherStorage(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ok(t, f, "create", "900", "t", "--rootfs", "local-lvm:16", "--mp0", "local-lvm:4,mp=/data", "--mp1", "/srv/shared,mp=/shared")
	ok(t, f, "clone", "900", "910", "--full", "1", "--storage", "tank")
	cfg := ok(t, f, "config", "910")
	assert.Contains(t, cfg, "rootfs: tank:vm-910-disk-0,size=16G\n")
	assert.Contains(t, cfg, "mp0: tank:vm-910-disk-1,size=4G,mp=/data\n")
	assert.Contains(t, cfg, "mp1: /srv/shared,mp=/shared\n", "a bind mount stays where it is")
	assert.Contains(t, ok(t, f, "config", "900"), "rootfs: local-lvm:vm-900-disk-0,size=16G\n", "the source stays")

	ok(t, f, "template", "900")
	refused(t, f, "parameter 'storage' not allowed for linked clones", "clone", "900", "911", "--storage", "tank")
	ok(t, f, "clone", "900", "911", "--full", "1", "--storage", "tank")
	assert.Contains(t, ok(t, f, "config", "911"), "rootfs: tank:vm-911-disk-0,size=16G\n")
}
