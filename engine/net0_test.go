package engine_test

import (
	"testing"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/stretchr/testify/assert"
)

func TestParseNet0(t *testing.T) {
	t.Parallel()
	got := engine.ParseNet0("name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=BC:24:11:2A:3B:4C,ip=10.0.0.200/24,type=veth")
	assert.Equal(t, map[string]string{
		"name": "eth0", "bridge": "vmbr0", "firewall": "1", "gw": "10.0.0.1",
		"hwaddr": "BC:24:11:2A:3B:4C", "ip": "10.0.0.200/24", "type": "veth",
	}, got)
	assert.Empty(t, engine.ParseNet0(""))
	assert.Equal(t, map[string]string{"name": "eth0", "ip": "dhcp"}, engine.ParseNet0(" name=eth0 , IP=dhcp ,"))
}

func TestNet0Matches(t *testing.T) {
	t.Parallel()
	want := engine.DesiredNet0(&engine.NetConfig{Name: "eth0", Bridge: "vmbr0", IP: "10.0.0.200/24", GW: "10.0.0.1", HWAddr: "52:54:00:aa:bb:cc"})
	tests := []struct {
		name string
		have string
		ok   bool
	}{
		{"as written", "name=eth0,bridge=vmbr0,ip=10.0.0.200/24,gw=10.0.0.1,hwaddr=52:54:00:aa:bb:cc", true},
		{"proxmox reorders and adds type", "name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC,ip=10.0.0.200/24,type=veth", true},
		{"other ip", "name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC,ip=10.0.0.201/24,type=veth", false},
		{"other mac", "name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CD,ip=10.0.0.200/24,type=veth", false},
		{"gateway missing", "name=eth0,bridge=vmbr0,hwaddr=52:54:00:AA:BB:CC,ip=10.0.0.200/24,type=veth", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.ok, engine.Net0Matches(want, engine.ParseNet0(tt.have)))
		})
	}

	noMAC := engine.DesiredNet0(&engine.NetConfig{Bridge: "vmbr0", IP: "dhcp"})
	assert.Equal(t, map[string]string{"name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}, noMAC, "name defaults to eth0")
	assert.True(t, engine.Net0Matches(noMAC, engine.ParseNet0("name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth")),
		"a MAC Proxmox generated is not a difference when none is configured")
	assert.Nil(t, engine.DesiredNet0(nil))
}

func TestFormatNet0PutsNameFirst(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "name=eth0,bridge=vmbr0,gw=10.0.0.1,ip=10.0.0.2/24,type=veth",
		engine.FormatNet0(map[string]string{"type": "veth", "ip": "10.0.0.2/24", "name": "eth0", "gw": "10.0.0.1", "bridge": "vmbr0"}))
}

func TestFeatures(t *testing.T) {
	t.Parallel()
	have := engine.ParseFeatures("keyctl=1,nesting=1,fuse=1")
	assert.True(t, engine.FeaturesMatch(map[string]string{"nesting": "1", "keyctl": "1"}, have))
	assert.False(t, engine.FeaturesMatch(map[string]string{"nesting": "1", "mknod": "1"}, have))
	assert.False(t, engine.FeaturesMatch(map[string]string{"nesting": "1"}, engine.ParseFeatures("nesting=0")))
	assert.Equal(t, "fuse=1,keyctl=1,nesting=1", engine.FormatFeatures(have))
}
