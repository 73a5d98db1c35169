package config

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var supportedVersions = []string{"v04", "v05", "v06", "v07", "v08", "v09"}

// TestEveryReferenceFieldKnown: every field of every supported reference
// version is in the embedded schema: each loads under --strict, where an
// unknown key is an error, and without it no warning names an unknown
// field.
func TestEveryReferenceFieldKnown(t *testing.T) {
	for _, v := range supportedVersions {
		t.Run(v, func(t *testing.T) {
			hv, lxc := versionFiles(t, v)
			cfg, err := LoadWith(Options{Strict: true}, hv, lxc)
			require.NoError(t, err, "%s under --strict", v)
			for _, w := range cfg.Warnings {
				assert.NotContains(t, w.Found, "unknown field", Format(w))
			}
		})
	}
}

// readJSON decodes file into a generic document.
func readJSON(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc
}

// loadMutated loads the reference version v with its LXC document changed
// by mutate (the hypervisor file as it is).
func loadMutated(t *testing.T, v string, o Options, mutate func(cts map[string]any)) (*ValidationError, error) {
	t.Helper()
	hvFile, lxcFile := versionFiles(t, v)
	var hv []byte
	if hvFile != "" {
		var err error
		hv, err = os.ReadFile(hvFile)
		require.NoError(t, err)
	}
	doc := readJSON(t, lxcFile)
	mutate(doc["lxc_configs"].(map[string]any))
	lxc, err := json.Marshal(doc)
	require.NoError(t, err)
	_, err = LoadBytesWith(o, hvFile, hv, lxcFile, lxc)
	var ve *ValidationError
	errors.As(err, &ve)
	return ve, err
}

// firstCT is the entry of the smallest CTID key.
func firstCT(cts map[string]any) (string, map[string]any) {
	key := sortedKeys(cts)[0]
	return key, cts[key].(map[string]any)
}

func rename(m map[string]any, from, to string) {
	m[to] = m[from]
	delete(m, from)
}

// TestTyposAreErrors: in a copy of every reference version, a misspelt
// field is an error with "did you mean"; a required field misspelt is
// that one error, not also "required, found none".
func TestTyposAreErrors(t *testing.T) {
	for _, v := range supportedVersions {
		t.Run(v, func(t *testing.T) {
			var id string
			ve, err := loadMutated(t, v, Options{}, func(cts map[string]any) {
				var ct map[string]any
				id, ct = firstCT(cts)
				rename(ct, "memory_mb", "memroy_mb")
				ct["hook_timout"] = "10m"
				ct["gpu_asignment"] = "0"
				ct["Cores"] = ct["cores"]
			})
			require.NotNil(t, ve, "want *ValidationError, got %v", err)
			text := err.Error()
			base := "/lxc_configs/" + id
			assert.Contains(t, text, base+`/memroy_mb: expected a known field, found unknown field "memroy_mb": did you mean "memory_mb"?`)
			assert.NotContains(t, text, `"memory_mb" (required)`)
			assert.Contains(t, text, base+`/hook_timout: expected a known field, found unknown field "hook_timout": did you mean "hook_timeout"?`)
			assert.Contains(t, text, base+`/gpu_asignment: expected a known field, found unknown field "gpu_asignment": did you mean "gpu_assignment"?`)
			assert.Contains(t, text, base+`/Cores: expected a known field, found unknown field "Cores": did you mean "cores"?`)
			assert.Len(t, ve.Errors(), 4, text)
		})
	}
}

// TestTypoInNestedObjectAndHypervisorFile: the check runs at every level
// the schema describes (network_config) and in the hypervisor file.
func TestTypoInNestedObjectAndHypervisorFile(t *testing.T) {
	ve, err := loadMutated(t, "v06", Options{}, func(cts map[string]any) {
		_, ct := firstCT(cts)
		rename(ct["network_config"].(map[string]any), "bridge", "brigde")
	})
	require.NotNil(t, ve, "%v", err)
	assert.Contains(t, err.Error(), `/network_config/brigde: expected a known field, found unknown field "brigde": did you mean "bridge"?`)

	hv := []byte(`{"core_paths": {"hf_token_fiel": "x"}, "netwrok": {}}`)
	_, err = LoadBytes("hv.json", hv, "lxc.json", []byte(`{"lxc_configs": {}}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `hv.json: /core_paths/hf_token_fiel: expected a known field, found unknown field "hf_token_fiel": did you mean "hf_token_file"?`)
	assert.Contains(t, err.Error(), `hv.json: /netwrok: expected a known field, found unknown field "netwrok": did you mean "network"?`)
}

// TestUnknownFieldWarnsUnlessStrict: a key far from every known one is a
// warning naming it and is kept for hooks; --strict makes it an error.
func TestUnknownFieldWarnsUnlessStrict(t *testing.T) {
	lxc := []byte(`{"lxc_configs": {"900": {"name": "a", "memory_mb": 512, "cores": 1, "template": "t",
		"my_site_notes": "kept", "vllm_engine_config": {"anything": {"goes": 1}}}}}`)
	cfg, err := LoadBytes("", nil, "lxc.json", lxc)
	require.NoError(t, err)
	require.Len(t, cfg.Warnings, 1)
	assert.Equal(t, `warning: lxc.json: /lxc_configs/900/my_site_notes: unknown field "my_site_notes": not a field of any supported version; kept for hooks (config.get, config.container)`, Format(cfg.Warnings[0]))
	assert.Equal(t, "kept", cfg.Containers[900].Raw["my_site_notes"], "readable by hooks")

	_, err = LoadBytesWith(Options{Strict: true}, "", nil, "lxc.json", lxc)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.Len(t, ve.Errors(), 1, "free-form objects are not looked into")
	assert.Equal(t, `lxc.json: /lxc_configs/900/my_site_notes: expected a known field (--strict: unknown fields are errors), found unknown field "my_site_notes"`, Format(ve.Errors()[0]))
}

func TestNearest(t *testing.T) {
	known := []string{"memory_mb", "cores", "gw", "ip", "name", "hook_timeout"}
	for key, want := range map[string]string{
		"memroy_mb": "memory_mb", "memory": "", "cores": "cores", "core": "cores", "gx": "gw",
		"xy": "", "nmae": "name", "hook_timeoutt": "hook_timeout", "my_notes": "", "ip4": "ip",
	} {
		assert.Equal(t, want, nearest(key, known), key)
	}
}
