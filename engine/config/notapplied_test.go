package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// TestNotAppliedReportsEachFieldOnce: a field no stage applies is one
// warning naming its containers; a field of one container keeps its JSON
// pointer; an unknown field is not (it is a validation warning of its
// own); applied fields and hook data are not reported.
func TestNotAppliedReportsEachFieldOnce(t *testing.T) {
	lxc := []byte(`{"lxc_configs": {
		"900": {"name": "a", "memory_mb": 512, "cores": 1, "template": "t", "ports": ["80:80"], "vllm_model": "m", "my_own": {"x": 1}},
		"1000": {"name": "b", "memory_mb": 512, "cores": 1, "template": "t", "ports": ["81:81"]},
		"950": {"name": "c", "memory_mb": 512, "cores": 1, "template": "t", "ports": []}}}`)
	hv := []byte(`{"zfs": {"pools": []}, "timezone": "UTC", "network": {"portainer_server_ip": "10.0.0.1", "nfs_server": "x"}}`)
	cfg, err := LoadBytes("hv.json", hv, "lxc.json", lxc)
	require.NoError(t, err)
	var got []string
	for _, p := range cfg.NotApplied {
		assert.True(t, p.Warning)
		got = append(got, Format(p))
	}
	assert.Equal(t, []string{
		"warning: hv.json: /: not applied: network.nfs_server, timezone, zfs (" + engine.WhyHostSetup + ")",
		"warning: lxc.json: /lxc_configs: not applied: ports in 900, 950, 1000 (a note of the service's published ports; the firewall rules are what opens ports)",
	}, got)
	require.Len(t, cfg.Warnings, 1, "not-applied fields are not validation warnings; the unknown one is")
	assert.Equal(t, "/lxc_configs/900/my_own", cfg.Warnings[0].Path)
}

func TestNotAppliedNothingForAnAppliedConfig(t *testing.T) {
	lxc := []byte(`{"nvidia_driver_version": "580.76.06", "lxc_configs": {"900": {"name": "a", "memory_mb": 512, "cores": 1, "template": "t",
		"network_config": {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}, "features": ["nesting=1", "docker"], "hook_args": ["x"]}}}`)
	cfg, err := LoadBytes("", nil, "lxc.json", lxc)
	require.NoError(t, err)
	assert.Empty(t, cfg.NotApplied)
}
