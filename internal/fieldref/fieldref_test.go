package fieldref

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/config"
	"github.com/phoenix-hypervisor/phoenix/internal/reftest"
)

const root = "../.."

// TestDocsConfigIsGenerated: docs/config.md is what the generator writes
// from the schemas, engine.Fields and the reference configs today.
func TestDocsConfigIsGenerated(t *testing.T) {
	want, err := Generate(root)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(root, DocPath))
	require.NoError(t, err)
	if string(got) != string(want) {
		t.Fatalf("%s is out of date: run `make docs` and commit the result", DocPath)
	}
}

// TestRenderRefusesASchemaFieldWithoutRow: a field the schema knows and
// the table does not would be missing from the reference.
func TestRenderRefusesASchemaFieldWithoutRow(t *testing.T) {
	lxc := []byte(`{"properties": {"lxc_configs": {"additionalProperties": {"$ref": "#/$defs/c"}}},
		"$defs": {"c": {"properties": {"name": {"type": "string"}, "no_such_field": {"type": "integer"}}}}}`)
	_, err := Render(lxc, []byte(`{}`), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "container: no_such_field")
	assert.NotContains(t, err.Error(), "container: name")
}

func TestSchemaFieldsTypes(t *testing.T) {
	lxc := []byte(`{"properties": {"lxc_configs": {"additionalProperties": {"$ref": "#/$defs/c"}}},
		"$defs": {"id": {"type": ["string", "integer"]},
		"c": {"properties": {
			"deps": {"type": "array", "items": {"$ref": "#/$defs/id"}, "description": "what comes first"},
			"mode": {"enum": ["dev", "lxc"]},
			"fw": {"type": "object", "properties": {"rules": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "string"}}}}}}}}}}`)
	got, err := SchemaFields(engine.ScopeLXC, lxc)
	require.NoError(t, err)
	assert.Equal(t, SchemaField{Type: "array of string or integer", Description: "what comes first"}, got[Key(engine.ScopeContainer, "deps")])
	assert.Equal(t, `"dev" or "lxc"`, got[Key(engine.ScopeContainer, "mode")].Type)
	assert.Equal(t, "string", got[Key(engine.ScopeContainer, "fw.rules[].port")].Type)
	assert.Contains(t, got, Key(engine.ScopeLXC, "lxc_configs"))
}

func TestFormatEras(t *testing.T) {
	assert.Equal(t, "v04–v09", FormatEras([]int{4, 5, 6, 7, 8, 9}))
	assert.Equal(t, "v08, v09", FormatEras([]int{8, 9}))
	assert.Equal(t, "v04–v06, v08", FormatEras([]int{4, 5, 6, 8}))
	assert.Equal(t, "", FormatEras(nil))
}

// TestEveryReferenceFieldIsAppliedOrReported walks every field of every
// reference config v04–v09: each has a row of engine.Fields; one no stage
// applies is reported by Load as "not applied: FIELD (why)" (what
// validate, plan and run print); the others name their stage or say why
// hooks or people are the readers.
func TestEveryReferenceFieldIsAppliedOrReported(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(root, RefDir, "v0[4-9]_*"))
	require.NoError(t, err)
	require.Len(t, dirs, LastEra-FirstEra+1)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir)[:3], func(t *testing.T) {
			hv := filepath.Join(dir, "phoenix_hypervisor_config.json")
			if _, err := os.Stat(hv); err != nil {
				hv = ""
			}
			lxc := filepath.Join(dir, "phoenix_lxc_configs.json")
			cfg, err := config.Load(hv, lxc)
			var ve *config.ValidationError
			if filepath.Base(dir)[:3] == "v05" && errors.As(err, &ve) {
				// v05's privileged clones of unprivileged templates are a
				// config error (engine/config TestV05…); its fields are
				// still walked.
				fixed, ferr := reftest.ClonesInherit(mustRead(t, lxc))
				require.NoError(t, ferr)
				cfg, err = config.LoadBytes(hv, mustRead(t, hv), lxc, fixed)
			}
			require.NoError(t, err)
			var reports []string
			for _, p := range cfg.NotApplied {
				require.True(t, p.Warning)
				reports = append(reports, p.Found)
			}
			check := func(scope string, doc map[string]any) {
				for _, k := range DocumentKeys(scope, doc) {
					scope, path, _ := strings.Cut(k, "\x00")
					f, ok := engine.LookupField(scope, path)
					if !assert.True(t, ok, "%s: %s has no row in engine.Fields", scope, path) {
						continue
					}
					switch f.Use {
					case engine.Applied:
						assert.NotEmpty(t, f.Stage, "%s: %s", scope, path)
					case engine.NotApplied, engine.HostSetup:
						assert.True(t, reported(reports, f.Path), "%s: %s is not reported; reports: %q", scope, f.Path, reports)
					default:
						assert.NotEmpty(t, f.Why, "%s: %s: say who reads it", scope, path)
					}
				}
			}
			check(engine.ScopeLXC, cfg.LXC)
			if hv != "" {
				check(engine.ScopeHypervisor, cfg.Hypervisor)
			}
		})
	}
}

// reported: one of the reports names path as a whole field.
func reported(reports []string, path string) bool {
	for _, r := range reports {
		rest, ok := strings.CutPrefix(r, "not applied: ")
		if !ok {
			continue
		}
		names, _, _ := strings.Cut(rest, " (")
		names, _, _ = strings.Cut(names, " in ")
		for _, n := range strings.Split(names, ", ") {
			if n == path {
				return true
			}
		}
	}
	return false
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	return b
}
