package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/dryrun"
	"github.com/phoenix-hypervisor/phoenix/internal/reftest"
)

const originals = "testdata/original-configs"

// versionFiles returns the hypervisor file ("" when the version has none)
// and the LXC file of one reference version directory, as it loads: v05
// with unprivileged dropped from its clones (reftest.ClonesInherit; see
// TestV05PrivilegedClonesOfAnUnprivilegedTemplate).
func versionFiles(t *testing.T, prefix string) (string, string) {
	t.Helper()
	hv, lxc := originalFiles(t, prefix)
	if prefix != "v05" {
		return hv, lxc
	}
	data, err := os.ReadFile(lxc)
	require.NoError(t, err)
	b, err := reftest.ClonesInherit(data)
	require.NoError(t, err)
	fixed := filepath.Join(t.TempDir(), "phoenix_lxc_configs.json")
	require.NoError(t, os.WriteFile(fixed, b, 0o644))
	return hv, fixed
}

// originalFiles are a reference version's files as they are.
func originalFiles(t *testing.T, prefix string) (string, string) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(originals, prefix+"_*"))
	require.NoError(t, err)
	require.Len(t, matches, 1, "one reference directory for %s", prefix)
	dir := matches[0]
	hv := filepath.Join(dir, "phoenix_hypervisor_config.json")
	if _, err := os.Stat(hv); err != nil {
		hv = ""
	}
	return hv, filepath.Join(dir, "phoenix_lxc_configs.json")
}

// TestV05PrivilegedClonesOfAnUnprivilegedTemplate: v05 asks 901 and 903
// to be privileged clones of the unprivileged 900 and 902. pct clone
// copies the id mapping, so no run could make them: exactly these two
// are errors, naming the source (920 and 950, privileged clones of 903,
// agree with what 903's entry asks).
func TestV05PrivilegedClonesOfAnUnprivilegedTemplate(t *testing.T) {
	hv, lxc := originalFiles(t, "v05")
	_, err := Load(hv, lxc)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "want *ValidationError, got %v", err)
	var got []string
	for _, p := range ve.Problems {
		if !p.Warning {
			got = append(got, p.Path+": "+p.Expected)
		}
	}
	assert.Equal(t, []string{
		"/lxc_configs/901/unprivileged: true, as 900 (its source) is: a clone inherits it, pct clone cannot change it",
		"/lxc_configs/903/unprivileged: true, as 902 (its source) is: a clone inherits it, pct clone cannot change it",
	}, got)
}

func loadVersion(t *testing.T, prefix string) *engine.Config {
	t.Helper()
	hv, lxc := versionFiles(t, prefix)
	cfg, err := Load(hv, lxc)
	require.NoError(t, err, "%s must load", prefix)
	return cfg
}

// TestSupportedVersionsLoad walks every supported reference version: each
// loads without errors and every container has a way to come into being.
func TestSupportedVersionsLoad(t *testing.T) {
	for _, v := range []string{"v04", "v05", "v06", "v07", "v08", "v09"} {
		t.Run(v, func(t *testing.T) {
			cfg := loadVersion(t, v)
			t.Logf("%s: %d containers, %d warnings", v, len(cfg.Containers), len(cfg.Warnings))
			for _, w := range cfg.Warnings {
				t.Log(Format(w))
			}
			require.NotEmpty(t, cfg.Containers)
			assert.NotNil(t, cfg.LXC)
			assert.NotNil(t, cfg.Hypervisor)
			for id, c := range cfg.Containers {
				assert.Equal(t, id, c.CTID)
				assert.NotEmpty(t, c.Hostname, "%d hostname", id)
				assert.True(t, c.Template != "" || c.CloneFrom != 0, "%d: template or clone source", id)
				if c.CloneFrom != 0 {
					src := cfg.Containers[c.CloneFrom]
					require.NotNil(t, src, "%d clones from %d", id, c.CloneFrom)
					assert.NotEmpty(t, src.TemplateSnapshot)
				}
				assert.NotNil(t, c.Raw)
			}
			assert.Len(t, buildOrder(t, cfg), len(cfg.Containers), "every container can be ordered after what it needs")
		})
	}
}

// buildOrder orders containers after their clone source and dependencies
// (Kahn's algorithm), as the planner does; a container left out sits on
// a cycle.
func buildOrder(t *testing.T, cfg *engine.Config) []int {
	t.Helper()
	waiting := map[int]int{}
	users := map[int][]int{}
	for id, c := range cfg.Containers {
		needs := slices.Clone(c.Dependencies)
		if c.CloneFrom != 0 && !slices.Contains(needs, c.CloneFrom) {
			needs = append(needs, c.CloneFrom)
		}
		waiting[id] = len(needs)
		for _, n := range needs {
			users[n] = append(users[n], id)
		}
	}
	var ready, order []int
	for id, n := range waiting {
		if n == 0 {
			ready = append(ready, id)
		}
	}
	for len(ready) > 0 {
		id := ready[0]
		ready = ready[1:]
		order = append(order, id)
		for _, u := range users[id] {
			if waiting[u]--; waiting[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	return order
}

func TestVersionSpotChecks(t *testing.T) {
	t.Run("v04 establish era: string features, capital hostnames, no hypervisor file", func(t *testing.T) {
		cfg := loadVersion(t, "v04")
		assert.Empty(t, cfg.HypervisorFile)
		assert.Equal(t, DefaultPortainerServerPort, cfg.PortainerServerPort)
		assert.Equal(t, DefaultPortainerAgentImage, cfg.PortainerAgentImage)
		assert.Equal(t, "580.76.05", cfg.NvidiaDriverVersion)
		c := cfg.Containers[900]
		require.NotNil(t, c)
		assert.Equal(t, "vllmQwen25C-7B-GPU0", c.Hostname)
		assert.Equal(t, map[string]string{"nesting": "1", "keyctl": "1"}, c.PctFeatures)
		assert.Empty(t, c.Named)
		assert.False(t, c.Unprivileged)
		assert.Equal(t, "0", c.GPUAssignment)
		assert.Equal(t, "agent", c.PortainerRole)
		assert.Equal(t, 32768, c.MemoryMB)
		assert.Equal(t, 64, c.StorageSizeGB)
		assert.Equal(t, &engine.NetConfig{Name: "eth0", Bridge: "vmbr0", IP: "10.0.0.110/24", GW: "10.0.0.1", HWAddr: "52:54:00:67:89:A0"}, c.Net)
		assert.True(t, cfg.Containers[999].Unprivileged)
		assert.Equal(t, "server", cfg.Containers[999].PortainerRole)
	})
	t.Run("v05 template hierarchy with string clone ids", func(t *testing.T) {
		cfg := loadVersion(t, "v05")
		assert.Equal(t, "10.0.0.99", cfg.PortainerServerIP)
		assert.Equal(t, 9001, cfg.PortainerAgentPort)
		assert.True(t, cfg.Containers[900].IsTemplate)
		assert.Equal(t, "base-snapshot", cfg.Containers[900].TemplateSnapshot)
		assert.Equal(t, 903, cfg.Containers[920].CloneFrom)
		assert.Empty(t, cfg.Containers[920].Template, "clones are not created from the OS template")
		assert.Nil(t, cfg.Containers[900].PctFeatures, `features "" is no feature`)
	})
	t.Run("v06: 950 clones from 920 snapshot vllm-base-snapshot", func(t *testing.T) {
		cfg := loadVersion(t, "v06")
		c := cfg.Containers[950]
		require.NotNil(t, c)
		assert.Equal(t, 920, c.CloneFrom)
		assert.Equal(t, "vllm-base-snapshot", cfg.Containers[920].TemplateSnapshot)
		assert.Equal(t, "portainer/portainer-ce:latest", cfg.PortainerServerImage)
		assert.Equal(t, true, cfg.Hypervisor["behavior"].(map[string]any)["debug_mode"])
	})
	t.Run("v07 orchestrator era: features list, clone_from_ctid", func(t *testing.T) {
		cfg := loadVersion(t, "v07")
		c := cfg.Containers[920]
		assert.Equal(t, 901, c.CloneFrom)
		assert.Equal(t, []string{"docker", "vllm"}, c.Named)
		assert.Equal(t, []string{"vllm"}, Unhandled(c))
		assert.True(t, c.WantsDocker())
		assert.Equal(t, "phoenix_hypervisor_lxc_950.sh", cfg.Containers[950].Raw["application_script"])
	})
	t.Run("v08 dependencies between LXCs", func(t *testing.T) {
		cfg := loadVersion(t, "v08")
		assert.Equal(t, []int{953, 955}, cfg.Containers[956].Dependencies)
		assert.Empty(t, cfg.Containers[956].ExternalDeps)
		assert.Equal(t, 512, cfg.Containers[953].SwapMB)
		assert.Equal(t, []string{"nvidia", "ollama"}, cfg.Containers[955].Named)
	})
	t.Run("v09: 901 depends on 1002, which is external", func(t *testing.T) {
		cfg := loadVersion(t, "v09")
		c := cfg.Containers[901]
		assert.Empty(t, c.Dependencies)
		assert.Equal(t, []int{1002}, c.ExternalDeps)
		assert.Equal(t, "0,1", c.GPUAssignment, `"0, 1" is normalised`)
		assert.True(t, cfg.Containers[911].Unprivileged, "unprivileged defaults to true")
		assert.Equal(t, []string{"traefik"}, slicesFilter(Unhandled(cfg.Containers[102]), "traefik"))
		assert.Equal(t, []int{103}, cfg.Containers[102].Dependencies)
		found := false
		for _, w := range cfg.Warnings {
			if w.Path == "/lxc_configs/901/dependencies/0" {
				found = true
				assert.True(t, w.Warning)
				assert.Contains(t, Format(w), "1002 is not an LXC in this file (a VM?): ordering against it is not enforced")
			}
		}
		assert.True(t, found, "a warning names 901's dependency on 1002")
	})
}

func slicesFilter(ss []string, want string) []string {
	var out []string
	for _, s := range ss {
		if s == want {
			out = append(out, s)
		}
	}
	return out
}

// TestPreV04Refused: v01–v03 fail, naming each unsupported thing with its
// path.
func TestPreV04Refused(t *testing.T) {
	tests := []struct {
		version string
		want    []string
	}{
		{"v01", []string{
			`/lxc_configs/901/network_config: expected an object {name, bridge, ip, gw}, found string "10.0.0.100/24,10.0.0.1,8.8.8.8" (unsupported pre-v04 format`,
			"/lxc_configs/901/balloon_min_mb: ",
			"/lxc_configs/901/nvidia_pci_ids: ",
		}},
		{"v02", []string{
			"/lxc_configs/901/network_config: ",
			"/lxc_configs/901/setup_script: ",
			"rename the script to phoenix_hypervisor_setup_901.sh in the hooks dir",
			`/lxc_configs/901/storage_size_gb: expected a number, found string "64" (unsupported pre-v04 format: numbers given as strings`,
		}},
		{"v03", []string{
			"/lxc_configs/901/network_config: ",
			"/lxc_configs/901/setup_script: ",
			"/lxc_configs/901/storage_size_gb: ",
			`/lxc_configs/901/swap: expected swap_mb`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			hv, lxc := versionFiles(t, tt.version)
			_, err := Load(hv, lxc)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "want *ValidationError, got %v", err)
			msg := err.Error()
			t.Log(msg)
			for _, w := range tt.want {
				assert.Contains(t, msg, w)
			}
			assert.Contains(t, msg, "phoenix_lxc_configs.json: ")
			assert.Contains(t, msg, "unsupported pre-v04 format")
			// Each legacy field is reported once, not again by the schema.
			assert.Equal(t, 1, strings.Count(msg, "/lxc_configs/901/network_config:"))
			assert.Equal(t, engine.ExitUsage, engine.ExitCode(ve.ExitError()))
		})
	}
}

// TestSupportedVersionsPlan walks every supported reference version
// through what `phoenix plan` does after loading: the engine's DAG, then
// a dry-run of every container on an empty host. Each container comes
// into being (create or clone would run), none fails, and no mutating
// call leaves the recorder.
func TestSupportedVersionsPlan(t *testing.T) {
	noDevices := func() ([]byte, error) { return []byte("195 nvidia\n511 nvidia-uvm\n"), nil }
	for _, v := range []string{"v04", "v05", "v06", "v07", "v08", "v09"} {
		t.Run(v, func(t *testing.T) {
			cfg := loadVersion(t, v)
			plan, err := engine.BuildPlan(cfg, nil)
			require.NoError(t, err, "%s must plan", v)
			require.Len(t, plan.Order, len(cfg.Containers))

			// The application scripts the configs name, as stand-ins: a
			// missing one would fail its container.
			dir := standIns{dir: t.TempDir()}
			for _, c := range cfg.Containers {
				if name := c.Later.ApplicationScript; name != "" {
					require.NoError(t, os.WriteFile(filepath.Join(dir.dir, name), []byte("#!/bin/sh\n"), 0o755))
				}
			}
			rec := dryrun.New(nil)
			res, err := engine.Run(context.Background(), engine.RunOptions{
				Config: cfg, Backend: rec, DryRun: true, ProcDevices: noDevices,
				Hooks: dir,
			})
			require.NoError(t, err)
			assert.Equal(t, engine.ExitOK, res.ExitCode())
			require.Len(t, res.Containers, len(cfg.Containers))
			for _, c := range res.Containers {
				assert.Equal(t, engine.StageDone, c.State, "%s: container %d: %s %v", v, c.CTID, c.Reason, c.Err)
				require.NotEmpty(t, c.Stages, "%d has stages", c.CTID)
				first := c.Stages[0]
				assert.Contains(t, []string{"create", "clone"}, first.Stage, "%d starts by coming into being", c.CTID)
				assert.Equal(t, engine.StageDone, first.State, "%d: %s would run on an empty host", c.CTID, first.Stage)
			}
			assert.NotEmpty(t, rec.Calls(), "the plan records what it would do")
		})
	}
}

// standIns is a hooks dir of shell stand-ins, without per-CTID hooks.
type standIns struct{ dir string }

func (standIns) Describe(*engine.Container) engine.HookInfo                   { return engine.HookInfo{} }
func (standIns) Run(context.Context, engine.HookRequest) error                { return nil }
func (standIns) RunLuaFile(context.Context, engine.HookRequest, string) error { return nil }
func (s standIns) DescribeFile(name string) engine.HookInfo {
	p := filepath.Join(s.dir, name)
	if _, err := os.Stat(p); err != nil {
		return engine.HookInfo{}
	}
	return engine.HookInfo{Kind: engine.HookShell, Path: p, State: engine.HookReady, Digest: name}
}
