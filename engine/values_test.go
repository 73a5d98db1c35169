package engine_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// TestUnsafeValuesNeverReachPct: values the schema refuses are refused
// again where they are used, before any mutating call (defence in depth
// for a Config built without the loader).
func TestUnsafeValuesNeverReachPct(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(ct *engine.Container, cfg *engine.Config)
		want   string
	}{
		{"storage pool adds a rootfs key", func(ct *engine.Container, _ *engine.Config) { ct.StoragePool = "lxc-disks,mountoptions=noatime" }, "storage_pool"},
		{"bridge adds net0 keys", func(ct *engine.Container, _ *engine.Config) { ct.Net.Bridge = "vmbr0,firewall=1,tag=99" }, "network_config.bridge"},
		{"ip adds a net0 key", func(ct *engine.Container, _ *engine.Config) { ct.Net.IP = "dhcp,rate=1" }, "network_config.ip"},
		{"ifname with a newline", func(ct *engine.Container, _ *engine.Config) { ct.Net.Name = "eth0\nx" }, "network_config.name"},
		{"template is an option", func(ct *engine.Container, _ *engine.Config) { ct.Template = "--unprivileged=0" }, "template"},
		{"hostname is an option", func(ct *engine.Container, _ *engine.Config) { ct.Hostname = "--force" }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := plain()
			ct.Net = &engine.NetConfig{Name: "eth0", Bridge: "vmbr0", IP: "dhcp"}
			cfg := oneConfig(ct)
			tt.change(ct, cfg)
			host := failedRun(t, cfg, tt.want)
			assert.Empty(t, host.MutatingCalls())
		})
	}
}

// TestDriverVersionNeverBecomesCode: a driver version with shell in it is
// refused before the install script is built.
func TestDriverVersionNeverBecomesCode(t *testing.T) {
	t.Parallel()
	ct := gpuContainer()
	cfg := oneConfig(ct)
	cfg.NvidiaDriverVersion = "580.76.06; touch /x #"
	host := failedRun(t, cfg, "nvidia_driver_version")
	for _, call := range host.Calls() {
		for _, a := range call.Argv {
			assert.NotContains(t, a, "touch /x", "no script carries the value")
		}
	}
}

// TestPortainerImageNeverAnOption: an image that docker run would read as
// an option is refused before docker run.
func TestPortainerImageNeverAnOption(t *testing.T) {
	t.Parallel()
	ct := plain()
	ct.PctFeatures = map[string]string{"nesting": "1"}
	ct.PortainerRole = "server"
	cfg := oneConfig(ct)
	cfg.PortainerServerImage = "--privileged"
	host := failedRun(t, cfg, `docker image "--privileged"`)
	for _, call := range host.Calls() {
		assert.NotContains(t, call.Argv, "--privileged")
	}
}

// failedRun runs cfg on a fresh fake host and requires container 900 to
// fail with an error containing want.
func failedRun(t *testing.T, cfg *engine.Config, want string) *memhost.Backend {
	t.Helper()
	host := newHost()
	res := run(t, engine.RunOptions{Config: cfg, Backend: host})
	c := container(t, res, 900)
	require.Equal(t, engine.StageFailed, c.State)
	assert.ErrorContains(t, c.Err, want)
	return host
}
