package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadBytes: no input may panic, and the result is always either a
// config or an error, never both nor neither. The seed corpus is every
// reference and scenario file.
func FuzzLoadBytes(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "phoenix_lxc_configs.json"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add([]byte(nil), b)
		}
	}
	hv, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "phoenix_hypervisor_config.json"))
	for _, name := range hv {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, []byte(`{"lxc_configs": {}}`))
		}
	}
	f.Add([]byte(`[]`), []byte(`{"lxc_configs": {"900": {"name": "a", "memory_mb": 512, "cores": 1, "clone_from_ctid": 900, "dependencies": [900, "1e3", 1e300]}}}`))
	f.Add([]byte(nil), []byte(`{"lxc_configs": {"900": {"name": "a", "memory_mb": 512, "cores": 1, "template": "t", "hook_args": ["${", "${}", "$${X}}"], "hook_timeout": 1e300, "network_config": {"name": "", "bridge": "b", "ip": "0.0.0.0/0", "gw": "0.0.0.0"}}}}`))
	f.Fuzz(func(t *testing.T, hv, lxc []byte) {
		cfg, err := LoadBytes("hv.json", hv, "lxc.json", lxc)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("want exactly one of config and error: cfg=%v err=%v", cfg != nil, err)
		}
		var ve *ValidationError
		if err != nil && errors.As(err, &ve) {
			if len(ve.Errors()) == 0 {
				t.Fatalf("a validation error without errors: %v", err)
			}
			_ = ve.Error()
		}
	})
}
