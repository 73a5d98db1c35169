package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		p    engine.Problem
		want string
	}{
		{"error", engine.Problem{File: "f.json", Path: "/a/b", Expected: "integer", Found: `string "64"`},
			`f.json: /a/b: expected integer, found string "64"`},
		{"warning", engine.Problem{File: "f.json", Path: "/a", Expected: "x", Found: "y", Warning: true},
			`warning: f.json: /a: expected x, found y`},
		{"message only", engine.Problem{File: "f.json", Path: "/a", Found: "1002 is not an LXC", Warning: true},
			`warning: f.json: /a: 1002 is not an LXC`},
		{"expected only", engine.Problem{File: "f.json", Path: "line 1, column 2", Expected: "valid JSON"},
			`f.json: line 1, column 2: expected valid JSON`},
		{"no file, no path", engine.Problem{Found: "hook 940.sh is not executable: run chmod +x"},
			`hook 940.sh is not executable: run chmod +x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Format(tt.p))
		})
	}
}

func TestProblemsSortedByFileThenPath(t *testing.T) {
	ps := []engine.Problem{
		{File: "b", Path: "/lxc_configs/1002/name"},
		{File: "a", Path: "/z"},
		{File: "b", Path: "/lxc_configs/950/name", Warning: true},
		{File: "b", Path: "/lxc_configs/950/name"},
		{File: "b", Path: "/lxc_configs/950"},
	}
	sortProblems(ps)
	var got []string
	for _, p := range ps {
		got = append(got, fmt.Sprintf("%s %s %t", p.File, p.Path, p.Warning))
	}
	assert.Equal(t, []string{
		"a /z false",
		"b /lxc_configs/950 false",
		"b /lxc_configs/950/name false",
		"b /lxc_configs/950/name true",
		"b /lxc_configs/1002/name false",
	}, got)
}

func TestUnhandled(t *testing.T) {
	c := &engine.Container{Named: []string{"base_setup", "nvidia", "docker", "vllm", "traefik"}}
	assert.Equal(t, []string{"base_setup", "vllm", "traefik"}, Unhandled(c))
	assert.Empty(t, Unhandled(&engine.Container{Named: []string{"nvidia"}}))
	assert.Subset(t, KnownFeatures, []string{"nvidia", "docker", "nesting", "keyctl", "fuse", "mknod", "mount"})
}

func TestFeaturesForms(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		pct   map[string]string
		named []string
	}{
		{"old string", `"nesting=1,keyctl=1"`, map[string]string{"nesting": "1", "keyctl": "1"}, nil},
		{"empty string", `""`, nil, nil},
		{"list of names", `["nvidia", "docker", "nvidia"]`, nil, []string{"nvidia", "docker"}},
		{"list with pct entries", `["nesting=1", "traefik"]`, map[string]string{"nesting": "1"}, []string{"traefik"}},
		{"names in the old string", `"nesting=1,docker"`, map[string]string{"nesting": "1"}, []string{"docker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lxc := fmt.Sprintf(`{"lxc_configs": {"900": {"name": "a", "memory_mb": 512, "cores": 1, "template": "t", "features": %s}}}`, tt.json)
			cfg, err := LoadBytes("", nil, "lxc.json", []byte(lxc))
			require.NoError(t, err)
			c := cfg.Containers[900]
			assert.Equal(t, tt.pct, c.PctFeatures)
			assert.Equal(t, tt.named, c.Named)
		})
	}
}

func TestLoadBytesDefaultsWithoutHypervisorFile(t *testing.T) {
	lxc := `{"lxc_configs": {"900": {"name": "a", "memory_mb": 512, "cores": 1, "template": "t"}}}`
	cfg, err := LoadBytes("", nil, "lxc.json", []byte(lxc))
	require.NoError(t, err)
	assert.Equal(t, "", cfg.HypervisorFile)
	assert.Equal(t, "lxc.json", cfg.LXCFile)
	assert.NotNil(t, cfg.Hypervisor, "hooks can look up an empty document")
	assert.Equal(t, 9443, cfg.PortainerServerPort)
	assert.Equal(t, 9001, cfg.PortainerAgentPort)
	assert.Equal(t, "portainer/portainer-ce:latest", cfg.PortainerServerImage)
	assert.Equal(t, "portainer/agent:latest", cfg.PortainerAgentImage)
	assert.Empty(t, cfg.Warnings)
	c := cfg.Containers[900]
	assert.Nil(t, c.Net, "no network_config: no network")
	assert.True(t, c.Unprivileged)
	assert.Equal(t, float64(512), c.Raw["memory_mb"], "numbers in Raw are float64")
}

func TestLoadDocumentShape(t *testing.T) {
	tests := []struct {
		name, hv, lxc string
		want          []string
	}{
		{"top level not an object", "", `[1, 2]`,
			[]string{"lxc.json: /: expected a JSON object, found array of 2"}},
		{"no lxc_configs", "", `{}`,
			[]string{`lxc.json: /lxc_configs: expected property "lxc_configs" (required), found none`}},
		{"entry not an object", "", `{"lxc_configs": {"900": "x"}}`,
			[]string{`lxc.json: /lxc_configs/900: expected object, found string "x"`}},
		{"empty file", "", ``,
			[]string{"lxc.json: line 1, column 1: expected valid JSON, found the end of the file (is it empty or cut short?)"}},
		{"duplicate keys", "", "{\"lxc_configs\": {\n  \"900\": {\"name\": \"a\", \"memory_mb\": 512, \"cores\": 1, \"template\": \"t\"},\n  \"900\": {\"name\": \"b\", \"name\": \"b\", \"memory_mb\": 512, \"cores\": 1, \"template\": \"t\"}}}", []string{
			`lxc.json: /lxc_configs/900: expected each key once per object (first at line 2, column 3), found "900" again at line 3, column 3: the earlier value would be silently ignored; remove or renumber one`,
			`lxc.json: /lxc_configs/900/name: expected each key once per object (first at line 3, column 11), found "name" again at line 3, column 24: the earlier value would be silently ignored; remove or renumber one`,
		}},
		{"both files broken", "{\n  nope", `{"lxc_configs": 1}`, []string{
			"hv.json: line 2, column 3: expected valid JSON, found invalid character 'n' looking for beginning of object key string",
			"lxc.json: /lxc_configs: expected object, found integer 1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hv []byte
			if tt.hv != "" {
				hv = []byte(tt.hv)
			}
			_, err := LoadBytes("hv.json", hv, "lxc.json", []byte(tt.lxc))
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "want *ValidationError, got %v", err)
			assert.Equal(t, strings.Join(tt.want, "\n"), err.Error())
		})
	}
}

func TestByteOrderMarkIsAccepted(t *testing.T) {
	lxc := "\xef\xbb\xbf" + `{"lxc_configs": {"900": {"name": "a", "memory_mb": 512, "cores": 1, "template": "t"}}}`
	cfg, err := LoadBytes("", nil, "lxc.json", []byte(lxc))
	require.NoError(t, err)
	assert.Len(t, cfg.Containers, 1)
}

func TestLoadUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Load("", filepath.Join(dir, "missing.json"))
	require.Error(t, err)
	var ve *ValidationError
	assert.False(t, errors.As(err, &ve), "a missing file is not a validation error")
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "--lxc-config")

	lxc := filepath.Join(dir, "lxc.json")
	require.NoError(t, os.WriteFile(lxc, []byte(`{"lxc_configs": {}}`), 0o600))
	_, err = Load(filepath.Join(dir, "nope.json"), lxc)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "--hypervisor-config")
}

func TestLoadRecordsAbsolutePaths(t *testing.T) {
	hv, lxc := versionFiles(t, "v06")
	cfg, err := Load(hv, lxc)
	require.NoError(t, err)
	assert.True(t, filepath.IsAbs(cfg.HypervisorFile), cfg.HypervisorFile)
	assert.True(t, filepath.IsAbs(cfg.LXCFile), cfg.LXCFile)
	assert.Equal(t, "BaseTemplate", cfg.LXC["lxc_configs"].(map[string]any)["900"].(map[string]any)["name"])
}

func TestCloneSourceFields(t *testing.T) {
	base := `"900": {"name": "base", "memory_mb": 512, "cores": 1, "template": "t", "template_snapshot_name": "snap"}`
	tests := []struct {
		name  string
		entry string
		want  int
		err   string
	}{
		{"later field, string", `"clone_from_ctid": "900"`, 900, ""},
		{"later field, number", `"clone_from_ctid": 900`, 900, ""},
		{"establish-era field", `"clone_from_template_ctid": "900"`, 900, ""},
		{"both, agreeing", `"clone_from_ctid": 900, "clone_from_template_ctid": "900"`, 900, ""},
		{"both, disagreeing", `"clone_from_ctid": 900, "clone_from_template_ctid": "901"`, 0,
			"lxc.json: /lxc_configs/910/clone_from_ctid: expected the same source as clone_from_template_ctid (901), or only one of the two, found 900"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lxc := fmt.Sprintf(`{"lxc_configs": {%s, "910": {"name": "c", "memory_mb": 512, "cores": 1, %s}}}`, base, tt.entry)
			cfg, err := LoadBytes("", nil, "lxc.json", []byte(lxc))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.Containers[910].CloneFrom)
		})
	}
}

func TestEmbeddedSchemasCompile(t *testing.T) {
	s, err := compiledSchemas()
	require.NoError(t, err)
	assert.NotNil(t, s.lxc)
	assert.NotNil(t, s.hypervisor)
}
