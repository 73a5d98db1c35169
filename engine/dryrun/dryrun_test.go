package dryrun

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/hostsim"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

var bg = context.Background()

func TestEmptyHost(t *testing.T) {
	t.Parallel()
	b := New(nil)
	assert.Equal(t, "dry-run", b.Name())
	assert.Equal(t, "no Proxmox host found (pct not on PATH): the plan assumes an empty host", b.HostNote())

	st, err := b.Status(bg, 901)
	require.NoError(t, err)
	assert.False(t, st.Exists)
	_, err = b.Config(bg, 901)
	require.ErrorIs(t, err, engine.ErrNotExist)
	_, err = b.ListSnapshots(bg, 901)
	require.ErrorIs(t, err, engine.ErrNotExist)
	list, err := b.List(bg)
	require.NoError(t, err)
	assert.Empty(t, list)
	_, err = b.Exec(bg, 901, []string{"true"}, engine.ExecOptions{Probe: true})
	require.ErrorIs(t, err, engine.ErrNotExist)
	assert.Empty(t, b.Calls())
}

func TestPlannedContainerLifecycle(t *testing.T) {
	t.Parallel()
	b := New(nil)
	spec := engine.CreateSpec{CTID: 901, Template: "local:vztmpl/ubuntu.tar.zst", Options: []engine.Option{
		{Key: "hostname", Value: "gpu"}, {Key: "memory", Value: "2048"}, {Key: "swap", Value: "512"}}}
	require.NoError(t, b.Create(bg, spec))
	st, err := b.Status(bg, 901)
	require.NoError(t, err)
	assert.Equal(t, engine.Status{Exists: true}, st)
	cfg, err := b.Config(bg, 901)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ostemplate": "local:vztmpl/ubuntu.tar.zst", "hostname": "gpu", "memory": "2048", "swap": "512"}, cfg)

	require.NoError(t, b.Set(bg, 901, []engine.Option{{Key: "cores", Value: "4"}}, []string{"swap"}))
	require.NoError(t, b.AppendRaw(bg, 901, []string{"lxc.cgroup2.devices.allow: c 195:* rwm", "lxc.cgroup2.devices.allow: c 508:* rwm"}))
	require.NoError(t, b.Start(bg, 901))
	require.NoError(t, b.Push(bg, 901, "/etc/x", []byte("x"), engine.PushOptions{Perms: "0644"}))
	res, err := b.Exec(bg, 901, []string{"sh", "-c", "apt-get install -y curl"}, engine.ExecOptions{Env: map[string]string{"A": "1"}})
	require.NoError(t, err)
	assert.Equal(t, engine.ExecResult{}, res, "pct_exec returns code 0 and empty output")
	require.NoError(t, b.Snapshot(bg, 901, "base"))

	st, err = b.Status(bg, 901)
	require.NoError(t, err)
	assert.Equal(t, engine.Status{Exists: true, Running: true}, st)
	cfg, err = b.Config(bg, 901)
	require.NoError(t, err)
	assert.Equal(t, "4", cfg["cores"])
	assert.NotContains(t, cfg, "swap")
	assert.Equal(t, "c 195:* rwm\nc 508:* rwm", cfg["lxc.cgroup2.devices.allow"])
	snaps, err := b.ListSnapshots(bg, 901)
	require.NoError(t, err)
	assert.Equal(t, []string{"base"}, snaps)
	list, err := b.List(bg)
	require.NoError(t, err)
	assert.Equal(t, []engine.ListEntry{{CTID: 901, Status: "running", Name: "gpu"}}, list)

	require.NoError(t, b.Shutdown(bg, 901, 0))
	require.NoError(t, b.Destroy(bg, 901))
	st, err = b.Status(bg, 901)
	require.NoError(t, err)
	assert.False(t, st.Exists)

	var ops []string
	for _, c := range b.Calls() {
		ops = append(ops, c.Op)
	}
	assert.Equal(t, []string{"create", "set", "append-raw", "start", "push", "push", "exec", "snapshot", "shutdown", "destroy"}, ops)
	// The environment travels as pct is given it: its file pushed, then
	// the wrapped exec, the file's random name the placeholder.
	assert.Equal(t, []string{"push", "901", "<content>", pve.EnvFilePlaceholder, "--perms", "0600"}, b.Calls()[5].Argv)
	assert.Equal(t, pve.EnvExecArgv(901, pve.EnvFilePlaceholder, []string{"sh", "-c", "apt-get install -y curl"}), b.Calls()[6].Argv)
	assert.Equal(t, []string{"push", "901", "<content>", "/etc/x", "--perms", "0644"}, b.Calls()[4].Argv)
}

func TestProbesOnPlannedContainer(t *testing.T) {
	t.Parallel()
	b := New(nil)
	require.NoError(t, b.Create(bg, engine.CreateSpec{CTID: 950, Template: "t"}))
	require.NoError(t, b.Start(bg, 950))
	res, err := b.Exec(bg, 950, []string{"true"}, engine.ExecOptions{Probe: true})
	require.NoError(t, err)
	assert.Equal(t, 0, res.Code)
	res, err = b.Exec(bg, 950, []string{"nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"}, engine.ExecOptions{Probe: true})
	require.NoError(t, err)
	assert.Equal(t, engine.ExecResult{Code: 127, Stderr: "nvidia-smi: command not found\n"}, res, "a planned create has nothing installed")
	before := len(b.Calls())
	_, err = b.Exec(bg, 950, []string{"docker", "info"}, engine.ExecOptions{Probe: true})
	require.NoError(t, err)
	assert.Len(t, b.Calls(), before, "probes are not absorbed calls")
}

// What the plan installs in a container is known to its probes, and to
// the probes of a clone of its snapshot: the plan does not install it again.
func TestPlannedInstallsAreKnownAndInherited(t *testing.T) {
	t.Parallel()
	b := New(nil)
	require.NoError(t, b.Create(bg, engine.CreateSpec{CTID: 900, Template: "t"}))
	require.NoError(t, b.Start(bg, 900))
	_, err := b.Exec(bg, 900, []string{"sh", "-c", hostsim.TagInstallDocker + "\nset -eu\n"}, engine.ExecOptions{})
	require.NoError(t, err)
	_, err = b.Exec(bg, 900, []string{"sh", "-c", hostsim.TagInstallNvidia + " 580.1\n"}, engine.ExecOptions{})
	require.NoError(t, err)
	require.NoError(t, b.Push(bg, 900, "/etc/phoenix/hook-900.sha256", []byte("abc\n"), engine.PushOptions{}))
	require.NoError(t, b.Snapshot(bg, 900, "base"))
	// After the snapshot: not in the clone.
	_, err = b.Exec(bg, 900, []string{"docker", "run", "-d", "--name", "portainer", "img"}, engine.ExecOptions{})
	require.NoError(t, err)

	probe := func(ctid int, argv ...string) engine.ExecResult {
		res, err := b.Exec(bg, ctid, argv, engine.ExecOptions{Probe: true})
		require.NoError(t, err)
		return res
	}
	assert.Equal(t, 0, probe(900, "docker", "info").Code)
	assert.Equal(t, 0, probe(900, "docker", "inspect", "portainer").Code)
	require.NoError(t, b.Clone(bg, engine.CloneSpec{Source: 900, CTID: 910, Snapshot: "base"}))
	require.NoError(t, b.Start(bg, 910))
	assert.Equal(t, 0, probe(910, "docker", "info").Code, "the clone has the snapshot's Docker")
	assert.Equal(t, "580.1\n", probe(910, "nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader").Stdout)
	assert.Equal(t, "abc\n", probe(910, "cat", "/etc/phoenix/hook-900.sha256").Stdout)
	assert.Equal(t, 1, probe(910, "docker", "inspect", "portainer").Code, "what came after the snapshot is not in the clone")
}

// realHost is a fake Proxmox host with a template and a running container.
func realHost(t *testing.T) *memhost.Backend {
	t.Helper()
	h := memhost.New()
	h.Put(900, &memhost.Container{Config: map[string]string{"hostname": "template", "memory": "2048", "template": "1"}, Snapshots: []string{"base"}})
	h.Put(950, &memhost.Container{Config: map[string]string{"hostname": "vllm", "cores": "8"}, Running: true})
	h.Exec_ = func(ctid int, argv []string, _ engine.ExecOptions) (engine.ExecResult, bool) {
		if ctid == 950 && argv[0] == "nvidia-smi" {
			return engine.ExecResult{Stdout: "550.54.14\n"}, true
		}
		return engine.ExecResult{}, false
	}
	return h
}

func TestRealHostIsNeverChanged(t *testing.T) {
	t.Parallel()
	host := realHost(t)
	before900, before950 := host.Get(900), host.Get(950)
	b := New(host)
	assert.Equal(t, "", b.HostNote())

	st, err := b.Status(bg, 950)
	require.NoError(t, err)
	assert.Equal(t, engine.Status{Exists: true, Running: true}, st, "reads go to the host")

	probe := []string{"nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"}
	res, err := b.Exec(bg, 950, probe, engine.ExecOptions{Probe: true})
	require.NoError(t, err)
	assert.Equal(t, "550.54.14\n", res.Stdout, "a probe on an untouched real container is answered by the host")

	require.NoError(t, b.Clone(bg, engine.CloneSpec{Source: 900, CTID: 902, Snapshot: "base", Hostname: "child"}))
	cfg, err := b.Config(bg, 902)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"hostname": "child", "memory": "2048"}, cfg, "the clone has the real source's config")
	require.NoError(t, b.Set(bg, 902, []engine.Option{{Key: "memory", Value: "4096"}}, nil))
	require.NoError(t, b.Start(bg, 902))

	require.NoError(t, b.Set(bg, 950, []engine.Option{{Key: "cores", Value: "4"}}, nil))
	cfg, err = b.Config(bg, 950)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"hostname": "vllm", "cores": "4"}, cfg, "real config plus the planned change")
	res, err = b.Exec(bg, 950, probe, engine.ExecOptions{Probe: true})
	require.NoError(t, err)
	assert.Equal(t, "550.54.14\n", res.Stdout, "a config change leaves what is installed: the probe still goes to the host")
	_, err = b.Exec(bg, 950, []string{"systemctl", "restart", "vllm"}, engine.ExecOptions{})
	require.NoError(t, err)
	require.NoError(t, b.Snapshot(bg, 900, "extra"))
	require.NoError(t, b.Stop(bg, 950))
	require.NoError(t, b.Destroy(bg, 950))

	list, err := b.List(bg)
	require.NoError(t, err)
	assert.Equal(t, []engine.ListEntry{
		{CTID: 900, Status: "stopped", Name: "template"},
		{CTID: 902, Status: "running", Name: "child"},
	}, list)
	snaps, err := b.ListSnapshots(bg, 900)
	require.NoError(t, err)
	assert.Equal(t, []string{"base", "extra"}, snaps)

	assert.Empty(t, host.MutatingCalls())
	var execs [][]string
	for _, c := range host.Calls() {
		if c.Op == "exec" {
			assert.True(t, c.Probe)
			execs = append(execs, c.Argv)
		}
	}
	assert.Equal(t, [][]string{engine.ExecArgv(950, probe, nil), engine.ExecArgv(950, probe, nil)}, execs,
		"only the two probes reached the host (before and after the planned config change), both on 950")
	assert.Equal(t, before900, host.Get(900))
	assert.Equal(t, before950, host.Get(950))
	assert.Nil(t, host.Get(902))
	for _, c := range host.Calls() {
		assert.NotEqual(t, 902, ctidOf(c.Argv), "a container the plan makes anew is not looked up: %v", c.Argv)
	}
	assert.Len(t, b.Calls(), 8)
}

func TestCloneOfPlannedSource(t *testing.T) {
	t.Parallel()
	b := New(memhost.New())
	require.NoError(t, b.Create(bg, engine.CreateSpec{CTID: 900, Template: "t", Options: []engine.Option{{Key: "hostname", Value: "base"}, {Key: "cores", Value: "2"}}}))
	require.NoError(t, b.Set(bg, 900, []engine.Option{{Key: "template", Value: "1"}}, nil))
	require.NoError(t, b.Snapshot(bg, 900, "base-snapshot"))
	require.NoError(t, b.Clone(bg, engine.CloneSpec{Source: 900, CTID: 901, Snapshot: "base-snapshot"}))
	cfg, err := b.Config(bg, 901)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ostemplate": "t", "hostname": "base", "cores": "2"}, cfg)
	snaps, err := b.ListSnapshots(bg, 901)
	require.NoError(t, err)
	assert.Empty(t, snaps)
}

func TestHostReadErrorsSurface(t *testing.T) {
	t.Parallel()
	host := memhost.New()
	host.Fail = func(op string, _ int, _ []string) error {
		if op == "status" {
			return fmt.Errorf("pct status 901: ipcc_send_rec failed")
		}
		return nil
	}
	b := New(host)
	_, err := b.Status(bg, 901)
	assert.ErrorContains(t, err, "ipcc_send_rec failed")
	err = b.Start(bg, 901)
	assert.ErrorContains(t, err, "dry-run: read container 901")
	assert.Empty(t, host.MutatingCalls())
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	b := New(nil)
	c, cancel := context.WithCancel(bg)
	cancel()
	assert.ErrorIs(t, b.Create(c, engine.CreateSpec{CTID: 901}), context.Canceled)
	_, err := b.Exec(c, 901, []string{"true"}, engine.ExecOptions{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, b.Calls())
}

func TestConcurrentPlans(t *testing.T) {
	t.Parallel()
	b := New(realHost(t))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := 910 + i
			assert.NoError(t, b.Clone(bg, engine.CloneSpec{Source: 900, CTID: id}))
			assert.NoError(t, b.Start(bg, id))
			_, err := b.Exec(bg, id, []string{"true"}, engine.ExecOptions{Probe: true})
			assert.NoError(t, err)
			_, _ = b.List(bg)
		}()
	}
	wg.Wait()
	list, err := b.List(bg)
	require.NoError(t, err)
	assert.Len(t, list, 22)
	assert.Len(t, b.Calls(), 40)
}

type gpuless struct{ *memhost.Backend }

func (gpuless) GPUSupported() (bool, string) { return false, "no GPU passthrough on this backend" }

func TestGPUSupported(t *testing.T) {
	t.Parallel()
	ok, _ := New(nil).GPUSupported()
	assert.True(t, ok)
	ok, _ = New(memhost.New()).GPUSupported()
	assert.True(t, ok)
	ok, why := New(gpuless{memhost.New()}).GPUSupported()
	assert.False(t, ok)
	assert.Equal(t, "no GPU passthrough on this backend", why)
}

func ctidOf(argv []string) int {
	if len(argv) < 2 {
		return 0
	}
	var id int
	fmt.Sscan(argv[1], &id)
	return id
}

func TestRemovePVEFileIsRecordedAndLaterReadsFindNone(t *testing.T) {
	host := memhost.New()
	ctx := context.Background()
	require.NoError(t, host.WritePVEFile(ctx, 910, "firewall/910.fw", []byte("[OPTIONS]\n")))
	host.ResetCalls()
	b := New(host)
	require.NoError(t, b.RemovePVEFile(ctx, 910, "firewall/910.fw"))
	_, err := b.ReadPVEFile(ctx, "firewall/910.fw")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, onHost := host.PVEFile("firewall/910.fw")
	assert.True(t, onHost, "the host keeps its file")
	assert.Empty(t, host.MutatingCalls())
	require.Len(t, b.Calls(), 1)
	assert.Equal(t, []string{"# on the host:", "rm -f /etc/pve/firewall/910.fw"}, b.Calls()[0].Argv)

	// Written again after the removal: read back.
	require.NoError(t, b.WritePVEFile(ctx, 910, "firewall/910.fw", []byte("x")))
	data, err := b.ReadPVEFile(ctx, "firewall/910.fw")
	require.NoError(t, err)
	assert.Equal(t, "x", string(data))
}
