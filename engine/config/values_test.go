package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validLXC is a container of every kind of value that reaches a pct
// property string or a generated script; each injection case below
// changes one of them.
func validLXC() map[string]any {
	return map[string]any{
		"nvidia_driver_version": "580.76.06",
		"nvidia_repo_url":       "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/",
		"nvidia_runfile_url":    "https://us.download.nvidia.com/XFree86/Linux-x86_64/580.76.06/NVIDIA-Linux-x86_64-580.76.06.run",
		"lxc_configs": map[string]any{
			"901": map[string]any{
				"name": "gpu", "memory_mb": 2048.0, "cores": 2.0, "swap_mb": 512.0,
				"template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "storage_pool": "quickOS-lxc-disks", "storage_size_gb": 32.0,
				"network_config": map[string]any{"name": "eth0", "bridge": "vmbr0", "ip": "10.0.0.11/24", "gw": "10.0.0.1"},
				"mac_address":    "52:54:00:00:00:01",
				"gpu_assignment": "0", "hook_timeout": "10m",
				"features": []any{"nvidia", "nesting=1"},
			},
		},
	}
}

func validHypervisor() map[string]any {
	return map[string]any{
		"network": map[string]any{"portainer_server_ip": "10.0.0.99", "portainer_server_port": 9443.0, "portainer_agent_port": 9001.0},
		"docker":  map[string]any{"portainer_server_image": "portainer/portainer-ce:latest", "portainer_agent_image": "portainer/agent:latest"},
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestValidValuesLoad(t *testing.T) {
	cfg, err := LoadBytes("hv.json", mustJSON(t, validHypervisor()), "lxc.json", mustJSON(t, validLXC()))
	require.NoError(t, err)
	assert.Equal(t, 2048, cfg.Containers[901].MemoryMB)
}

// TestInjectionsRefused: every value that would smuggle code into a
// script or a key into a pct property string, or that pct would refuse or
// Phoenix would silently drop, is an error at its path.
func TestInjectionsRefused(t *testing.T) {
	ct := func(m map[string]any) map[string]any {
		return m["lxc_configs"].(map[string]any)["901"].(map[string]any)
	}
	net := func(m map[string]any) map[string]any { return ct(m)["network_config"].(map[string]any) }
	tests := []struct {
		name, path string
		lxc        func(m map[string]any)
		hv         func(m map[string]any)
	}{
		{"driver version with a command", "/nvidia_driver_version", func(m map[string]any) { m["nvidia_driver_version"] = "580.76.06; touch /x #" }, nil},
		{"driver version with a newline", "/nvidia_driver_version", func(m map[string]any) { m["nvidia_driver_version"] = "580.76.06\ntouch /x" }, nil},
		{"runfile url with a quote", "/nvidia_runfile_url", func(m map[string]any) { m["nvidia_runfile_url"] = "https://x/'; touch /x; '" }, nil},
		{"runfile url not http", "/nvidia_runfile_url", func(m map[string]any) { m["nvidia_runfile_url"] = "file:///etc/shadow" }, nil},
		{"repo url with a space", "/nvidia_repo_url", func(m map[string]any) { m["nvidia_repo_url"] = "https://x/ y" }, nil},
		{"storage pool with a property", "/lxc_configs/901/storage_pool", func(m map[string]any) { ct(m)["storage_pool"] = "local,mountoptions=noatime" }, nil},
		{"storage pool with a comma", "/lxc_configs/901/storage_pool", func(m map[string]any) { ct(m)["storage_pool"] = "local:8,firewall=1" }, nil},
		{"bridge with a property", "/lxc_configs/901/network_config/bridge", func(m map[string]any) { net(m)["bridge"] = "vmbr0,firewall=1,tag=99" }, nil},
		{"bridge too long", "/lxc_configs/901/network_config/bridge", func(m map[string]any) { net(m)["bridge"] = "vmbr0123456789ab" }, nil},
		{"ifname with a property", "/lxc_configs/901/network_config/name", func(m map[string]any) { net(m)["name"] = "eth0,tag=99" }, nil},
		{"ip with a property", "/lxc_configs/901/network_config/ip", func(m map[string]any) { net(m)["ip"] = "10.0.0.11/24,rate=1" }, nil},
		{"gw with a property", "/lxc_configs/901/network_config/gw", func(m map[string]any) { net(m)["gw"] = "10.0.0.1,tag=9" }, nil},
		{"mac with a property", "/lxc_configs/901/mac_address", func(m map[string]any) { ct(m)["mac_address"] = "52:54:00:00:00:01,tag=9" }, nil},
		{"hostname with a space", "/lxc_configs/901/name", func(m map[string]any) { ct(m)["name"] = "a b" }, nil},
		{"hostname as an option", "/lxc_configs/901/name", func(m map[string]any) { ct(m)["name"] = "--force" }, nil},
		{"template as an option", "/lxc_configs/901/template", func(m map[string]any) { ct(m)["template"] = "--unprivileged=0" }, nil},
		{"template with a space", "/lxc_configs/901/template", func(m map[string]any) { ct(m)["template"] = "local:vztmpl/a b.tar" }, nil},
		{"memory past any host", "/lxc_configs/901/memory_mb", func(m map[string]any) { ct(m)["memory_mb"] = 1e300 }, nil},
		{"swap past any host", "/lxc_configs/901/swap_mb", func(m map[string]any) { ct(m)["swap_mb"] = 1e300 }, nil},
		{"cores past pct", "/lxc_configs/901/cores", func(m map[string]any) { ct(m)["cores"] = 8193.0 }, nil},
		{"disk past any storage", "/lxc_configs/901/storage_size_gb", func(m map[string]any) { ct(m)["storage_size_gb"] = 1e300 }, nil},
		{"hook timeout number too large", "/lxc_configs/901/hook_timeout", func(m map[string]any) { ct(m)["hook_timeout"] = 1e300 }, nil},
		{"hook timeout duration too large", "/lxc_configs/901/hook_timeout", func(m map[string]any) { ct(m)["hook_timeout"] = "100000h" }, nil},
		{"mount feature with a property", "/lxc_configs/901/features/1", func(m map[string]any) { ct(m)["features"] = []any{"nvidia", "mount=nfs=1"} }, nil},
		{"feature name with a path", "/lxc_configs/901/features/0", func(m map[string]any) { ct(m)["features"] = []any{"../../x"} }, nil},
		{"lxc option with a newline", "/lxc_configs/901/lxc_options/0", func(m map[string]any) {
			ct(m)["lxc_options"] = []any{"lxc.apparmor.profile: unconfined\nlxc.cap.drop:"}
		}, nil},
		{"server image as an option", "/docker/portainer_server_image", nil, func(m map[string]any) {
			m["docker"].(map[string]any)["portainer_server_image"] = "--privileged"
		}},
		{"agent image with a space", "/docker/portainer_agent_image", nil, func(m map[string]any) {
			m["docker"].(map[string]any)["portainer_agent_image"] = "portainer/agent -v /:/host"
		}},
		{"port past 65535", "/network/portainer_server_port", nil, func(m map[string]any) { m["network"].(map[string]any)["portainer_server_port"] = 1e300 }},
		{"server ip with a command", "/network/portainer_server_ip", nil, func(m map[string]any) { m["network"].(map[string]any)["portainer_server_ip"] = "10.0.0.99;id" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lxc, hv := validLXC(), validHypervisor()
			if tt.lxc != nil {
				tt.lxc(lxc)
			}
			if tt.hv != nil {
				tt.hv(hv)
			}
			cfg, err := LoadBytes("hv.json", mustJSON(t, hv), "lxc.json", mustJSON(t, lxc))
			require.Nil(t, cfg)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "want *ValidationError, got %v", err)
			errs := ve.Errors()
			require.Len(t, errs, 1, "one error, at the field: %v", err)
			assert.Equal(t, tt.path, errs[0].Path, "%v", err)
			assert.Contains(t, []string{"hv.json", "lxc.json"}, errs[0].File)
		})
	}
}

// TestOversizedConfigRefused: a file past MaxConfigBytes is an error of
// that file, found without parsing it (it is not even valid JSON here).
func TestOversizedConfigRefused(t *testing.T) {
	big := make([]byte, MaxConfigBytes+1)
	for i := range big {
		big[i] = ' '
	}
	for _, tt := range []struct{ name, file string }{{"lxc", "lxc.json"}, {"hypervisor", "hv.json"}} {
		t.Run(tt.name, func(t *testing.T) {
			hv, lxc := mustJSON(t, validHypervisor()), mustJSON(t, validLXC())
			if tt.file == "lxc.json" {
				lxc = big
			} else {
				hv = big
			}
			_, err := LoadBytes("hv.json", hv, "lxc.json", lxc)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "want *ValidationError, got %v", err)
			require.Len(t, ve.Errors(), 1, "%v", err)
			assert.Equal(t, tt.file, ve.Errors()[0].File)
			assert.Contains(t, err.Error(), "at most 16 MiB")
			assert.NotContains(t, err.Error(), "valid JSON", "refused before parsing")
		})
	}
}

// TestEveryPatternHasMeaning: each pattern of the embedded schemas is
// explained in words, so no message reads "a string matching ^...$".
func TestEveryPatternHasMeaning(t *testing.T) {
	for _, name := range []string{lxcSchemaFile, hypervisorSchemaFile} {
		raw, err := fs.ReadFile(schemaFS, name)
		require.NoError(t, err)
		var doc any
		require.NoError(t, json.Unmarshal(raw, &doc))
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if p, ok := x["pattern"].(string); ok {
					assert.False(t, strings.HasPrefix(patternMeaning(p), "a string matching"), "%s: pattern %s has no words in patternMeanings", name, p)
				}
				for _, e := range x {
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(doc)
	}
}
