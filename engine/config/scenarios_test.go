package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// loadScenario loads testdata/<dir>: its LXC file and, when present, its
// hypervisor file.
func loadScenario(t *testing.T, dir string) (*engine.Config, error) {
	t.Helper()
	lxc := filepath.Join("testdata", dir, "phoenix_lxc_configs.json")
	hv := filepath.Join("testdata", dir, "phoenix_hypervisor_config.json")
	if _, err := os.Stat(hv); err != nil {
		hv = ""
	}
	return Load(hv, lxc)
}

// TestInvalidConfigs: each scenario fails with a *ValidationError whose
// problems are exactly the expected ones (errors; warnings are counted
// separately), each naming the file, the path, what was expected and what
// was found.
func TestInvalidConfigs(t *testing.T) {
	const hostnameExp = "expected a hostname: labels of letters, digits and '-' (not at either end), 1–63 characters each, separated by single dots, found "
	const ipExp = `expected an IPv4 address with prefix length like "10.0.0.110/24", "dhcp" or "manual", found `
	tests := []struct {
		dir      string
		errors   []string // "PATH: expected …, found …", in output order
		warnings int
	}{
		{"bad/invalid_json", []string{
			"line 5, column 25: expected valid JSON, found invalid character ',' looking for beginning of object key string",
		}, 0},
		{"bad/truncated_json", []string{
			"line 4, column 1: expected valid JSON, found the end of the file (is it empty or cut short?)",
		}, 0},
		{"bad/wrong_types", []string{
			`/lxc_configs/900/cores: expected integer, found string "eight"`,
			`/lxc_configs/900/dependencies: expected array, found string "901"`,
			`/lxc_configs/900/features: expected string or array, found object`,
			`/lxc_configs/900/gpu_assignment: expected "none" or GPU indices like "0" or "0,1", found string "all"`,
			`/lxc_configs/900/gpu_passthrough: expected one of "dev", "lxc", found string "raw"`,
			`/lxc_configs/900/memory_mb: expected integer, found number 2048.5`,
			`/lxc_configs/900/network_config/bridge: expected property "bridge" (required), found none`,
			`/lxc_configs/900/template_snapshot_name: expected a snapshot name: a letter, then letters, digits, '_' or '-', found string "1-bad name"`,
			`/lxc_configs/900/unprivileged: expected boolean, found string "yes"`,
			`/nvidia_driver_version: expected string, found integer 580`,
		}, 0},
		{"bad/unknown_hook_var", []string{
			`/lxc_configs/901/hook_args/1: expected one of the hook variables PHOENIX_CTID, PHOENIX_DRY_RUN, PHOENIX_DEBUG, HYPERVISOR_CONFIG_FILE, LXC_CONFIG_FILE, MAIN_LOG_FILE, GPU_ASSIGNMENT, NVIDIA_DRIVER_VERSION, NVIDIA_REPO_URL, NVIDIA_RUNFILE_URL, PORTAINER_ROLE, PORTAINER_SERVER_IP, PORTAINER_AGENT_PORT, found unknown variable ${NVIDIA_DRIVER} in "--driver=${NVIDIA_DRIVER}"`,
			`/lxc_configs/901/hook_args/2: expected "${NAME}" closed with "}", found "${GPU_ASSIGNMENT"`,
			`/lxc_configs/901/hook_timeout: expected a duration like "90s" or "10m", or a number of seconds, at most a week (168h), found string "10 minutes"`,
		}, 0},
		{"bad/bad_ctid", []string{
			`/lxc_configs/42: expected a container id 100–999999999 as the key, found "42"`,
			`/lxc_configs/900/clone_from_ctid: expected a number >= 100, found integer 99`,
			`/lxc_configs/0900: expected a container id 100–999999999 as the key, found "0900"`,
			`/lxc_configs/web: expected a container id 100–999999999 as the key, found "web"`,
		}, 0},
		{"bad/missing_clone_source", []string{
			`/lxc_configs/900/template_snapshot_name: expected the snapshot clones are taken from (910, 911 cloned from 900): add "template_snapshot_name": "<name>" to 900, found none`,
			`/lxc_configs/920/clone_from_ctid: expected the id of an LXC container in this file, found 905, which is not in lxc_configs: add it, or fix the id`,
			`/lxc_configs/930: expected "template" (an OS template to create from) or "clone_from_ctid" (a container to clone), found neither: add one of them`,
		}, 0},
		{"bad/clone_inherits", []string{
			`/lxc_configs/910/storage_size_gb: expected at least 32, the size of 902's root disk, as cloned from 900: a clone copies it and a disk only grows, found 16: set it to 32 or more, or drop it`,
			`/lxc_configs/910/unprivileged: expected true, as 902 (its source, cloned from 900) is: a clone inherits it, pct clone cannot change it, found false: drop unprivileged from 910, or set it to true (to have both, create 910 from a template)`,
		}, 0},
		{"bad/cycle", []string{
			`/lxc_configs/901: expected no cycle over clone sources and dependencies, found cycle: 901 -> 920 -> 901 (break it by removing one clone source or dependency)`,
			`/lxc_configs/930: expected no cycle over clone sources and dependencies, found cycle: 930 -> 930 (break it by removing one clone source or dependency)`,
		}, 0},
		{"bad/bad_ip", []string{
			`/lxc_configs/900/network_config/ip: ` + ipExp + `"10.0.0.300/24"`,
			`/lxc_configs/901/network_config/gw: expected an IPv4 address like "10.0.0.1", found string "gateway"`,
			`/lxc_configs/901/network_config/ip: ` + ipExp + `string "10.0.0.11"`,
			`/lxc_configs/902/network_config/ip: ` + ipExp + `string "fd00::2/64"`,
			`/lxc_configs/903/mac_address: expected a MAC address like "52:54:00:12:34:56", found string "52:54:00:zz:00:01"`,
			`/lxc_configs/904/mac_address: expected a unicast MAC address (first byte even, e.g. 52:54:00:…), found 01:00:5e:00:00:01, a multicast address`,
			`/lxc_configs/904/network_config/nameservers: expected IP addresses of DNS servers like "10.0.0.13" or "10.0.0.13 8.8.8.8", found string "10.0.0.13, dns.example"`,
		}, 1},
		{"bad/bad_hostname", []string{
			`/lxc_configs/900/name: ` + hostnameExp + `string "my_host"`,
			`/lxc_configs/901/name: ` + hostnameExp + `string "a..b"`,
			`/lxc_configs/902/name: ` + hostnameExp + `string "-lead"`,
			`/lxc_configs/903/name: ` + hostnameExp + `string "trail."`,
		}, 0},
		{"bad/bad_features", []string{
			`/lxc_configs/900/features: expected a pct feature (nesting, keyctl, fuse, mknod, mount) as key=value, or a feature name, found "foo=1"`,
			`/lxc_configs/900/features: expected nesting=0 or nesting=1, found "nesting=2"`,
			`/lxc_configs/901/features/1: expected mount=<fs>[;<fs>...] such as "mount=nfs;cifs", found "mount="`,
		}, 0},
		{"bad/duplicate_addresses", []string{
			`/lxc_configs/901/mac_address: expected a MAC address not used by another container (all run at once), found 52:54:00:aa:00:01, also used by 900`,
			`/lxc_configs/901/network_config/ip: expected an IP address not used by another container (all run at once), found 10.0.0.10, also used by 900`,
			`/lxc_configs/902/network_config/ip: expected an IP address not used by another container (all run at once), found 10.0.0.10, also used by 900`,
		}, 0},
		{"bad/bad_hypervisor", []string{
			`/docker/portainer_server_image: expected a Docker image like "portainer/agent:latest" (no spaces, not starting with '-'), found string ""`,
			`/network/portainer_agent_port: expected a number <= 65535, found integer 70000`,
			`/network/portainer_server_port: expected integer, found string "9443"`,
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			cfg, err := loadScenario(t, tt.dir)
			require.Nil(t, cfg)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "want *ValidationError, got %v", err)
			var got []string
			warnings := 0
			for _, p := range ve.Problems {
				if p.Warning {
					warnings++
					continue
				}
				line := Format(p)
				require.True(t, strings.HasPrefix(line, p.File+": "), "names the file: %s", line)
				assert.Contains(t, p.File, filepath.Join("testdata", tt.dir))
				got = append(got, strings.TrimPrefix(line, p.File+": "))
			}
			assert.Equal(t, tt.errors, got)
			assert.Equal(t, tt.warnings, warnings)
			assert.Len(t, ve.Errors(), len(tt.errors))
			assert.Equal(t, len(ve.Problems), strings.Count(err.Error(), "\n")+1, "one line per problem")
			assert.Equal(t, engine.ExitUsage, engine.ExitCode(ve.ExitError()))
		})
	}
}

// TestManyProblemsAtOnce: one file with problems of every pass reports
// them all, not only the first.
func TestManyProblemsAtOnce(t *testing.T) {
	_, err := loadScenario(t, "bad/many_problems")
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "want *ValidationError, got %v", err)
	msg := err.Error()
	for _, want := range []string{
		`/lxc_configs/12: expected a container id 100–999999999 as the key, found "12"`,
		`/lxc_configs/900/memory_mb: expected integer, found string "lots"`,
		`/lxc_configs/900/name: expected a hostname`,
		`/lxc_configs/900/network_config/ip: expected an IPv4 address with prefix length`,
		`/lxc_configs/901/clone_from_ctid: expected the id of an LXC container in this file, found 777`,
		`/lxc_configs/901/hook_args/0: expected one of the hook variables`,
		`cycle: 902 -> 903 -> 902`,
		`warning: testdata/bad/many_problems/phoenix_lxc_configs.json: /lxc_configs/903/dependencies/1: 1002 is not an LXC in this file (a VM?): ordering against it is not enforced`,
	} {
		assert.Contains(t, msg, want)
	}
	assert.Len(t, ve.Errors(), 7)
	assert.Len(t, ve.Problems, 8)
}

// TestWarningsOnly: a duplicate hostname, an unknown field, a gateway outside the network and a VM
// dependency are warnings: the configuration loads, and the new Phoenix
// fields are normalised.
func TestWarningsOnly(t *testing.T) {
	cfg, err := loadScenario(t, "warn/duplicates")
	require.NoError(t, err)
	var got []string
	for _, w := range cfg.Warnings {
		assert.True(t, w.Warning)
		got = append(got, strings.TrimPrefix(Format(w), "warning: "+w.File+": "))
	}
	assert.Equal(t, []string{
		`/lxc_configs/901/name: expected hostname not used by another container, found web, also used by 900`,
		`/lxc_configs/902/network_config/gw: expected a gateway inside 10.0.0.0/24, found 192.168.1.1, outside the container's network: it will not be reachable directly`,
		`/lxc_configs/903/an_unknown_field: unknown field "an_unknown_field": not a field of any supported version; kept for hooks (config.get, config.container)`,
		`/lxc_configs/903/dependencies/0: 1002 is not an LXC in this file (a VM?): ordering against it is not enforced`,
	}, got)

	c := cfg.Containers[903]
	assert.Equal(t, []int{1002}, c.ExternalDeps)
	assert.Empty(t, c.Dependencies)
	assert.Equal(t, []string{"${PHOENIX_CTID}", "${GPU_ASSIGNMENT}", "--x=${NVIDIA_DRIVER_VERSION}"}, c.HookArgs)
	assert.Equal(t, 10*time.Minute, c.HookTimeout)
	assert.Equal(t, map[string]any{"kept": true}, c.Raw["an_unknown_field"], "unknown fields are kept")
	assert.Nil(t, cfg.Containers[900].HookArgs, "no hook_args: nil (the default argv)")

	c = cfg.Containers[904]
	assert.Equal(t, 90*time.Second, c.HookTimeout)
	assert.True(t, c.HookKeepProcesses)
	assert.False(t, cfg.Containers[900].HookKeepProcesses, "hook_keep_processes defaults to false")
	assert.True(t, c.GPULegacyLXC)
	assert.Equal(t, "0,1", c.GPUAssignment)
	assert.Equal(t, map[string]string{"nesting": "1", "keyctl": "1", "mount": "nfs;cifs"}, c.PctFeatures)
	assert.True(t, c.HasGPU())
	assert.False(t, cfg.Containers[900].GPULegacyLXC)
	assert.Equal(t, "none", cfg.Containers[900].GPUAssignment)
	assert.Equal(t, "none", cfg.Containers[900].PortainerRole)
}
