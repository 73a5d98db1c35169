package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// proxmoxConfig is how Proxmox would store ct's settings: net0 reordered
// with type=veth, features sorted.
func proxmoxConfig(ct *engine.Container) map[string]string {
	m := map[string]string{
		"hostname":     ct.Hostname,
		"memory":       itoa(ct.MemoryMB),
		"cores":        itoa(ct.Cores),
		"rootfs":       ct.StoragePool + ":vm-" + itoa(ct.CTID) + "-disk-0,size=" + itoa(ct.StorageSizeGB) + "G",
		"unprivileged": "1",
		"ostype":       "ubuntu",
	}
	if ct.Net != nil {
		n := engine.DesiredNet0(ct.Net)
		n["type"] = "veth"
		n["hwaddr"] = strings.ToUpper(n["hwaddr"])
		m["net0"] = engine.FormatNet0(n)
	}
	if len(ct.PctFeatures) > 0 {
		f := map[string]string{}
		for k, v := range ct.PctFeatures {
			f[k] = v
		}
		if ct.WantsDocker() {
			f["keyctl"] = "1"
		}
		m["features"] = engine.FormatFeatures(f)
	}
	return m
}

// plain is a non-template container with no GPU, Docker or hook.
func plain() *engine.Container {
	ct := exampleConfig().Containers[900]
	ct.IsTemplate, ct.TemplateSnapshot = false, ""
	return ct
}

func TestConfigureStage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(have map[string]string)
		state string
		calls []string
	}{
		{name: "proxmox spelling matches", edit: func(map[string]string) {}, state: engine.StageAlready},
		{
			name:  "memory differs",
			edit:  func(h map[string]string) { h["memory"] = "1024" },
			state: engine.StageDone,
			calls: []string{"set 900 --memory 2048"},
		},
		{
			name: "hostname, cores and ip differ; the MAC is kept",
			edit: func(h map[string]string) {
				h["hostname"], h["cores"] = "old", "1"
				h["net0"] = "name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC,ip=10.0.0.9/24,type=veth"
			},
			state: engine.StageDone,
			calls: []string{"set 900 --hostname BaseTemplate --cores 2 --net0 name=eth0,bridge=vmbr0,ip=10.0.0.200/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC"},
		},
		{
			name:  "features set by hand are kept",
			edit:  func(h map[string]string) { h["features"] = "fuse=1" },
			state: engine.StageDone,
			calls: []string{"set 900 --features fuse=1,keyctl=1,nesting=1"}, // nesting means Docker: keyctl too
		},
		{
			name:  "extra features are no difference",
			edit:  func(h map[string]string) { h["features"] = "fuse=1,keyctl=1,nesting=1" },
			state: engine.StageAlready,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct := plain()
			ct.PctFeatures = map[string]string{"nesting": "1"}
			ct.Named = nil
			cfg := oneConfig(ct)
			host := newHost()
			have := proxmoxConfig(ct)
			tt.edit(have)
			host.Put(900, &memhost.Container{Config: have, Running: true, Files: installed("docker")})
			res := run(t, engine.RunOptions{Config: cfg, Backend: host})
			c := container(t, res, 900)
			require.Equal(t, engine.StageDone, c.State, "%v", c.Err)
			assert.Equal(t, tt.state, stageOf(c, "configure").State)
			assert.Equal(t, tt.calls, mutatingArgv(host, 900, "configure"))
		})
	}
}

func TestCreateStageWithSwapFeaturesAndPrivileged(t *testing.T) {
	t.Parallel()
	ct := plain()
	ct.SwapMB, ct.Unprivileged = 512, false
	ct.Net = &engine.NetConfig{Bridge: "vmbr1", IP: "dhcp"}
	ct.PctFeatures = map[string]string{"mknod": "1"}
	cfg := oneConfig(ct)
	host := newHost()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	require.Equal(t, engine.ExitOK, res.ExitCode())
	assert.Equal(t, []string{"create 900 " + ubuntu + " --hostname BaseTemplate --memory 2048 --cores 2 --swap 512 --rootfs lxc-disks:32" +
		" --net0 name=eth0,bridge=vmbr1,ip=dhcp --features mknod=1 --unprivileged 0" +
		" --description phoenix: created from " + ubuntu}, mutatingArgv(host, 900, "create"))
	assert.Equal(t, "created from "+ubuntu, stageOf(container(t, res, 900), "create").Detail)
}

func TestCreateStageNeedsTemplate(t *testing.T) {
	t.Parallel()
	ct := plain()
	ct.Template = ""
	cfg := oneConfig(ct)
	host := newHost()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	c := container(t, res, 900)
	assert.Equal(t, engine.StageFailed, c.State)
	assert.ErrorContains(t, c.Err, "container 900 has neither a template nor a clone source: set template or clone_from_ctid")
	assert.Empty(t, host.MutatingCalls())
}

// gpuless is a backend without GPU passthrough, like the LXC backend on a
// host without NVIDIA devices.
type gpuless struct{ *memhost.Backend }

func (gpuless) GPUSupported() (bool, string) { return false, "no NVIDIA devices on this host" }

func gpuContainer() *engine.Container {
	ct := plain()
	ct.GPUAssignment = "0"
	return ct
}

func TestNvidiaStage(t *testing.T) {
	t.Parallel()
	t.Run("backend without GPUs skips", func(t *testing.T) {
		t.Parallel()
		cfg := oneConfig(gpuContainer())
		host := newHost()
		res := run(t, engine.RunOptions{Config: cfg, Backend: gpuless{host}})
		c := container(t, res, 900)
		assert.Equal(t, engine.StageDone, c.State, "a skipped stage is no failure")
		s := stageOf(c, "nvidia")
		assert.Equal(t, engine.StageSkipped, s.State)
		assert.Equal(t, "no NVIDIA devices on this host", s.Detail)
		assert.Empty(t, mutatingArgv(host, 900, "nvidia"))
	})
	t.Run("only the missing devices, and a restart", func(t *testing.T) {
		t.Parallel()
		ct := gpuContainer()
		cfg := oneConfig(ct)
		host := newHost()
		have := proxmoxConfig(ct)
		have["dev0"] = "/dev/nvidia0,mode=0666"
		have["dev2"] = "/dev/nvidiactl"
		host.Put(900, &memhost.Container{Config: have, Running: true, Files: installed("nvidia=" + testDriver)})
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.Equal(t, []string{
			"set 900 --dev1 /dev/nvidia-uvm --dev3 /dev/nvidia-uvm-tools --dev4 /dev/nvidia-modeset",
			"shutdown 900 --timeout 60", "start 900",
		}, mutatingArgv(host, 900, "nvidia"))
		assert.Equal(t, "passthrough dev1,dev3,dev4; restarted", stageOf(container(t, res, 900), "nvidia").Detail)
	})
	t.Run("present and matching is already done", func(t *testing.T) {
		t.Parallel()
		ct := gpuContainer()
		cfg := oneConfig(ct)
		host := newHost()
		have := proxmoxConfig(ct)
		for i, d := range []string{"/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"} {
			have["dev"+itoa(i)] = d
		}
		host.Put(900, &memhost.Container{Config: have, Running: true, Files: installed("nvidia=" + testDriver)})
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		st := stageOf(container(t, res, 900), "nvidia")
		assert.Equal(t, engine.StageAlready, st.State, st.Detail)
		assert.Empty(t, mutatingArgv(host, 900, "nvidia"))
	})
	t.Run("a GPU the config no longer asks for is removed, an admin's device stays", func(t *testing.T) {
		t.Parallel()
		ct := gpuContainer() // "0", was "0,1"
		cfg := oneConfig(ct)
		host := newHost()
		have := proxmoxConfig(ct)
		for i, d := range []string{"/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset", "/dev/ttyUSB0", "/dev/nvidia-caps/nvidia-cap1"} {
			have["dev"+itoa(i)] = d
		}
		host.Put(900, &memhost.Container{Config: have, Running: true, Files: installed("nvidia=" + testDriver)})
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.Equal(t, []string{"set 900 --delete dev1", "shutdown 900 --timeout 60", "start 900"}, mutatingArgv(host, 900, "nvidia"))
		assert.Equal(t, "passthrough removed dev1; restarted", stageOf(container(t, res, 900), "nvidia").Detail)
		got, err := host.Config(context.Background(), 900)
		require.NoError(t, err)
		assert.NotContains(t, got, "dev1")
		assert.Equal(t, "/dev/ttyUSB0", got["dev6"])
		assert.Equal(t, "/dev/nvidia-caps/nvidia-cap1", got["dev7"])
	})
	t.Run("gpu_assignment none: every NVIDIA device goes, the driver stays", func(t *testing.T) {
		t.Parallel()
		ct := plain()
		ct.GPUAssignment = "none"
		cfg := oneConfig(ct)
		host := newHost()
		have := proxmoxConfig(ct)
		for i, d := range []string{"/dev/nvidia0", "/dev/ttyUSB0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"} {
			have["dev"+itoa(i)] = d
		}
		host.Put(900, &memhost.Container{Config: have, Running: true, Files: installed("nvidia=" + testDriver)})
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.Equal(t, []string{"set 900 --delete dev0,dev2,dev3,dev4,dev5", "shutdown 900 --timeout 60", "start 900"}, mutatingArgv(host, 900, "nvidia"))
		st := stageOf(container(t, res, 900), "nvidia")
		assert.Equal(t, engine.StageDone, st.State)
		assert.Equal(t, "passthrough removed dev0,dev2,dev3,dev4,dev5; restarted; driver "+testDriver+" stays installed (phoenix does not uninstall it)", st.Detail)
		got, err := host.Config(context.Background(), 900)
		require.NoError(t, err)
		assert.Equal(t, "/dev/ttyUSB0", got["dev1"])

		// Converged: no nvidia stage at all, as for any container without a GPU.
		res = run(t, engine.RunOptions{Config: cfg, Backend: host})
		for _, s := range container(t, res, 900).Stages {
			assert.NotEqual(t, "nvidia", s.Stage)
		}
	})
	t.Run("driver still wrong after install fails", func(t *testing.T) {
		t.Parallel()
		ct := gpuContainer()
		cfg := oneConfig(ct)
		host := newHost()
		host.Put(900, &memhost.Container{Config: proxmoxConfig(ct), Running: true, Files: installed("nvidia=550.1")})
		host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
			// the install "succeeds" but changes nothing
			return engine.ExecResult{}, argv[0] == "sh"
		}
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		c := container(t, res, 900)
		assert.Equal(t, engine.StageFailed, c.State)
		assert.ErrorContains(t, c.Err, `nvidia: driver reports "550.1", config wants "`+testDriver+`"`)
	})
	t.Run("install script failure", func(t *testing.T) {
		t.Parallel()
		cfg := oneConfig(gpuContainer())
		host := newHost()
		host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
			if argv[0] == "sh" {
				return engine.ExecResult{Code: 22, Stderr: "curl: (22) The requested URL returned error: 404\n"}, true
			}
			return engine.ExecResult{}, false
		}
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.ErrorContains(t, container(t, res, 900).Err, "install NVIDIA driver "+testDriver+": exit 22: curl: (22) The requested URL returned error: 404")
	})
	t.Run("no driver version configured", func(t *testing.T) {
		t.Parallel()
		cfg := oneConfig(gpuContainer())
		cfg.NvidiaDriverVersion = ""
		host := newHost()
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.ErrorContains(t, container(t, res, 900).Err, "nvidia_driver_version is not set")
	})
	t.Run("no runfile url: NVIDIA's address of the version", func(t *testing.T) {
		t.Parallel()
		cfg := oneConfig(gpuContainer())
		cfg.NvidiaRunfileURL = "" // the v04 configs have none
		host := newHost()
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		c := container(t, res, 900)
		require.Equal(t, engine.StageDone, c.State, "%v", c.Err)
		var script string
		for _, a := range mutatingArgv(host, 900, "nvidia") {
			if strings.Contains(a, "# phoenix:install-nvidia ") {
				script = a
			}
		}
		assert.Contains(t, script, "url="+testRunfile)
	})
	t.Run("features list naming nvidia means GPU 0", func(t *testing.T) {
		t.Parallel()
		ct := plain()
		ct.GPUAssignment, ct.Named = "none", []string{"nvidia"}
		cfg := oneConfig(ct)
		host := newHost()
		run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.Contains(t, mutatingArgv(host, 900, "nvidia")[0], "set 900 --dev0 /dev/nvidia0 --dev1 /dev/nvidiactl")
	})
}

func TestNvidiaStageLegacyLines(t *testing.T) {
	t.Parallel()
	ct := gpuContainer()
	ct.GPUAssignment, ct.GPULegacyLXC = "0,1", true
	cfg := oneConfig(ct)
	host := newHost()
	procDevices := func() ([]byte, error) {
		return []byte("Character devices:\n  1 mem\n195 nvidia\n195 nvidiactl\n508 nvidia-uvm\n\nBlock devices:\n  8 sd\n"), nil
	}
	res := run(t, engine.RunOptions{Config: cfg, Backend: host, ProcDevices: procDevices})
	require.Equal(t, engine.ExitOK, res.ExitCode(), "%v", container(t, res, 900).Err)
	calls := mutatingArgv(host, 900, "nvidia")
	require.NotEmpty(t, calls)
	assert.Equal(t, "# append to /etc/pve/lxc/900.conf:"+
		" lxc.cgroup2.devices.allow: c 195:* rwm"+
		" lxc.cgroup2.devices.allow: c 508:* rwm"+
		" lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file"+
		" lxc.mount.entry: /dev/nvidia1 dev/nvidia1 none bind,optional,create=file"+
		" lxc.mount.entry: /dev/nvidiactl dev/nvidiactl none bind,optional,create=file"+
		" lxc.mount.entry: /dev/nvidia-uvm dev/nvidia-uvm none bind,optional,create=file"+
		" lxc.mount.entry: /dev/nvidia-uvm-tools dev/nvidia-uvm-tools none bind,optional,create=file"+
		" lxc.mount.entry: /dev/nvidia-modeset dev/nvidia-modeset none bind,optional,create=file"+
		" lxc.mount.entry: /dev/nvidia-caps dev/nvidia-caps none bind,optional,create=dir", calls[0])
	assert.Equal(t, []string{"shutdown 900 --timeout 60", "start 900"}, calls[1:3])

	// the lines are there now: nothing to add on a re-run
	host.ResetCalls()
	res = run(t, engine.RunOptions{Config: cfg, Backend: host, ProcDevices: procDevices})
	assert.Equal(t, engine.StageAlready, stageOf(container(t, res, 900), "nvidia").State)
	assert.Empty(t, host.MutatingCalls())

	// without nvidia-uvm loaded on the host: a warning, not a failure
	ct2 := gpuContainer()
	ct2.GPULegacyLXC = true
	cfg2 := oneConfig(ct2)
	host2 := newHost()
	ev := &events{}
	res = run(t, engine.RunOptions{Config: cfg2, Backend: host2, Events: ev, ProcDevices: func() ([]byte, error) { return nil, errors.New("open /proc/devices: denied") }})
	st := stageOf(container(t, res, 900), "nvidia")
	assert.Equal(t, engine.StageDone, st.State)
	assert.Contains(t, st.Detail, "modprobe nvidia-uvm")
	var warned bool
	for _, e := range ev.Of(engine.EventLog) {
		warned = warned || (e.Level == "WARN" && strings.Contains(e.Message, "nvidia-uvm"))
	}
	assert.True(t, warned)
}

func TestDockerStage(t *testing.T) {
	t.Parallel()
	dockerCT := func(role string) *engine.Container {
		ct := plain()
		ct.PctFeatures = map[string]string{"nesting": "1"}
		ct.PortainerRole = role
		return ct
	}
	t.Run("installs the engine and the agent", func(t *testing.T) {
		t.Parallel()
		cfg := oneConfig(dockerCT("agent"))
		cfg.PortainerAgentPort = 9101
		cfg.PortainerAgentImage = "portainer/agent:2.19.4"
		host := newHost()
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.Equal(t, []string{
			"exec 900 -- sh -c # phoenix:install-docker",
			"exec 900 -- docker run -d --name portainer_agent --restart=always -p 9101:9001 -v /var/run/docker.sock:/var/run/docker.sock" +
				" -v /var/lib/docker/volumes:/var/lib/docker/volumes portainer/agent:2.19.4",
		}, firstLines(mutatingArgv(host, 900, "docker")))
		assert.Equal(t, "Docker Engine installed; portainer agent started", stageOf(container(t, res, 900), "docker").Detail)
	})
	t.Run("everything there is already done", func(t *testing.T) {
		t.Parallel()
		ct := dockerCT("server")
		cfg := oneConfig(ct)
		host := newHost()
		host.Put(900, &memhost.Container{Config: proxmoxConfig(ct), Running: true, Files: installed("docker", "container:portainer")})
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.Equal(t, engine.StageAlready, stageOf(container(t, res, 900), "docker").State)
		assert.Empty(t, host.MutatingCalls())
	})
	t.Run("docker still missing after install", func(t *testing.T) {
		t.Parallel()
		cfg := oneConfig(dockerCT("none"))
		host := newHost()
		host.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
			return engine.ExecResult{}, argv[0] == "sh" // the install changes nothing
		}
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.ErrorContains(t, container(t, res, 900).Err, "docker info still fails after installing Docker Engine (exit 127)")
	})
	t.Run("the docker feature name alone turns the stage on", func(t *testing.T) {
		t.Parallel()
		ct := plain()
		ct.Named = []string{"docker"}
		cfg := oneConfig(ct)
		host := newHost()
		res := run(t, engine.RunOptions{Config: cfg, Backend: host})
		assert.Equal(t, engine.StageDone, stageOf(container(t, res, 900), "docker").State)
		assert.Contains(t, mutatingArgv(host, 900, "create")[0], "--features keyctl=1,nesting=1")
		assert.Empty(t, container(t, res, 900).Notes, "docker is handled")
	})
}

func TestTemplateStage(t *testing.T) {
	t.Parallel()
	ct := plain()
	ct.IsTemplate = true // no snapshot name: phoenix-template
	cfg := oneConfig(ct)
	host := newHost()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	assert.Equal(t, []string{"exec 900 -- mkdir -p /etc/phoenix", "push 900 <content> /etc/phoenix/template-900.sha256 --perms 0644",
		"shutdown 900 --timeout 60", "snapshot 900 phoenix-template", "start 900"}, mutatingArgv(host, 900, "template"))
	assert.Equal(t, "snapshot phoenix-template taken", stageOf(container(t, res, 900), "template").Detail)

	host.ResetCalls()
	res = run(t, engine.RunOptions{Config: cfg, Backend: host})
	st := stageOf(container(t, res, 900), "template")
	assert.Equal(t, engine.StageAlready, st.State)
	assert.Equal(t, "snapshot phoenix-template exists", st.Detail)
	assert.Empty(t, host.MutatingCalls())
}

func TestLockedContainerSaysWhatToDo(t *testing.T) {
	t.Parallel()
	ct := plain()
	cfg := oneConfig(ct)
	host := newHost()
	have := proxmoxConfig(ct)
	have["memory"] = "1024"
	host.Put(900, &memhost.Container{Config: have, Lock: "backup"})
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	c := container(t, res, 900)
	assert.Equal(t, engine.StageFailed, c.State)
	assert.ErrorContains(t, c.Err, "configure: pct set 900: CT is locked (backup): wait for the task holding the lock to finish, or run `pct unlock 900` if the lock is stale")
}
