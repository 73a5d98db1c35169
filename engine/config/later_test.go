package config

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

func lines(ls []pve.RawLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

// TestLaterEraOfV09: the shipped v09 values are read as the original
// meant them; lxc_options in a form that is not Proxmox's load with a
// warning showing the line as written.
func TestLaterEraOfV09(t *testing.T) {
	cfg := loadVersion(t, "v09")
	gw := cfg.Containers[101].Later
	assert.Equal(t, []string{
		"lxc.mount.auto: sys:rw",
		"lxc.include: /usr/share/lxc/config/nesting.conf",
		"lxc.apparmor.allow_nesting: 1",
		"lxc.apparmor.profile: unconfined",
		"lxc.idmap: u 0 100000 65536",
		"lxc.idmap: g 0 100000 33",
		"lxc.idmap: g 33 33 1",
		"lxc.idmap: g 34 100034 65502",
	}, lines(gw.LXCLines))
	require.Len(t, gw.MountPoints, 3)
	assert.Equal(t, "/var/log/nginx", gw.MountPoints[0].CTPath)
	assert.Equal(t, 33, *gw.MountPoints[0].OwnerUID)
	assert.Equal(t, &engine.Boot{OnBoot: true, Order: ptr(2), Delay: ptr(5)}, gw.Boot)
	assert.Equal(t, []string{"10.0.0.13"}, gw.Nameservers)
	assert.Equal(t, "1", cfg.Containers[101].PctFeatures["nesting"], "pct_options merge into features")
	require.NotNil(t, gw.Firewall)
	assert.True(t, gw.Firewall.Enabled)
	assert.Equal(t, "IN ACCEPT -source 10.0.0.111 -p tcp -dport 443 # Allow Portainer VM to access the gateway", gw.Firewall.Rules[0].Line())
	assert.Equal(t, "phoenix_hypervisor_lxc_101.sh", gw.ApplicationScript)

	assert.Equal(t, []engine.Volume{{Name: "vllm_models", Pool: "fastData-shared-bulk-data", SizeGB: 50, Path: "/vllm_models"}}, cfg.Containers[801].Later.Volumes)
	assert.Equal(t, &engine.HealthCheck{Command: "/usr/local/phoenix_hypervisor/bin/health_checks/check_step_ca.sh", Retries: 5, Interval: 10 * time.Second}, cfg.Containers[103].Later.HealthCheck)
	assert.True(t, cfg.Containers[900].Later.LifecycleSnapshots)
	assert.Equal(t, []engine.IntegrationTest{
		{Name: "vLLM Context Window Test", Type: "script", Path: "vllm/test_vllm_context_window.py"},
		{Name: "vLLM Responsiveness Test", Type: "script", Path: "vllm/test_vllm_responsiveness.py"},
	}, cfg.Containers[801].Later.Tests)

	var warned []string
	for _, w := range cfg.Warnings {
		if w.Path == "/lxc_configs/900/lxc_options/0" || w.Path == "/lxc_configs/101/lxc_options/0" {
			w.File = ""
			warned = append(warned, Format(w))
		}
	}
	assert.Equal(t, []string{
		`warning: /lxc_configs/101/lxc_options/0: "lxc.mount.auto:sys:rw" is not Proxmox's form: written as "lxc.mount.auto: sys:rw"`,
		`warning: /lxc_configs/900/lxc_options/0: "lxc.apparmor.profile=unconfined" is not Proxmox's form: written as "lxc.apparmor.profile: unconfined"`,
	}, warned)
}

func ptr(n int) *int { return &n }

// TestLaterEraRefusals: what cannot be written as itself is an error
// naming the place; nothing loads.
func TestLaterEraRefusals(t *testing.T) {
	lxc := []byte(`{"lxc_configs": {"960": {"name": "a", "memory_mb": 512, "cores": 1, "template": "t",
		"lxc_options": ["lxc.apparmor.profile unconfined", "nesting=1"],
		"apparmor_profile": "x; rm -rf /",
		"mount_points": [{"host_path": "relative/dir", "container_path": "/data"}, {"host_path": "/a,b", "container_path": "/d"}],
		"zfs_volumes": [{"name": "v", "pool": "tank", "size_gb": 0, "mount_point": "/v"}],
		"id_maps": [{"type": "gid", "container_id": 65530, "host_id": 33, "size": 10}],
		"firewall": {"enabled": true, "rules": [{"type": "in", "action": "ACCEPT", "source": "10.0.0.1 -p udp", "proto": "tcp", "port": "80"}]},
		"application_script": "../../etc/evil.sh",
		"health_check": {"command": "", "retries": 0}}}}`)
	_, err := LoadBytes("", nil, "lxc.json", lxc)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	var paths []string
	for _, p := range ve.Errors() {
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{
		"/lxc_configs/960/apparmor_profile",
		"/lxc_configs/960/application_script",
		"/lxc_configs/960/firewall/rules/0/source",
		"/lxc_configs/960/health_check/command",
		"/lxc_configs/960/id_maps",
		"/lxc_configs/960/lxc_options/0",
		"/lxc_configs/960/lxc_options/1",
		"/lxc_configs/960/mount_points/0/host_path",
		"/lxc_configs/960/mount_points/1/host_path",
		"/lxc_configs/960/zfs_volumes/0/size_gb",
	}, paths)
}

func TestIDMapsOnAPrivilegedContainerAreRefused(t *testing.T) {
	lxc := []byte(`{"lxc_configs": {"960": {"name": "a", "memory_mb": 512, "cores": 1, "template": "t", "unprivileged": false,
		"id_maps": [{"type": "u", "container_id": 33, "host_id": 33, "size": 1}]}}}`)
	_, err := LoadBytes("", nil, "lxc.json", lxc)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/lxc_configs/960/id_maps: expected id_maps only on an unprivileged container")
}
