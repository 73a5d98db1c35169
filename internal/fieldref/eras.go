package fieldref

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// The eras of a field are the reference configurations that use it:
// engine/config/testdata/original-configs/vNN_*/ (v04 to v09, the
// formats Phoenix reads).

// FirstEra and LastEra bound the versions Phoenix reads.
const (
	FirstEra = 4
	LastEra  = 9
)

var eraDir = regexp.MustCompile(`^v(\d\d)_`)

// Eras walks the reference directory and returns, for every field found
// (keyed by Key(scope, path)), the versions that use it, ascending.
func Eras(refDir string) (map[string][]int, error) {
	dirs, err := os.ReadDir(refDir)
	if err != nil {
		return nil, fmt.Errorf("read reference configs: %w", err)
	}
	out := map[string][]int{}
	for _, d := range dirs {
		m := eraDir.FindStringSubmatch(d.Name())
		if !d.IsDir() || m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		if v < FirstEra || v > LastEra {
			continue
		}
		for file, scope := range map[string]string{
			"phoenix_lxc_configs.json":       engine.ScopeLXC,
			"phoenix_hypervisor_config.json": engine.ScopeHypervisor,
		} {
			doc, err := readDoc(filepath.Join(refDir, d.Name(), file))
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, k := range DocumentKeys(scope, doc) {
				if vs := out[k]; len(vs) == 0 || vs[len(vs)-1] != v {
					out[k] = append(vs, v)
				}
			}
		}
	}
	for _, vs := range out {
		sort.Ints(vs)
	}
	return out, nil
}

func readDoc(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return doc, nil
}

// DocumentKeys lists every field of a decoded file, as Key(scope, path),
// once each: the members of each lxc_configs entry are ScopeContainer,
// array items are "[]".
func DocumentKeys(scope string, doc map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(scope, path string, v any)
	walk = func(scope, path string, v any) {
		if path != "" {
			if k := Key(scope, path); !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
		switch x := v.(type) {
		case map[string]any:
			for _, name := range sortedKeys(x) {
				if scope == engine.ScopeLXC && path == "" && name == "lxc_configs" {
					walk(scope, name, nil)
					entries, _ := x[name].(map[string]any)
					for _, id := range sortedKeys(entries) {
						walk(engine.ScopeContainer, "", entries[id])
					}
					continue
				}
				p := name
				if path != "" {
					p = path + "." + name
				}
				walk(scope, p, x[name])
			}
		case []any:
			for _, item := range x {
				walk(scope, path+"[]", item)
			}
		}
	}
	walk(scope, "", doc)
	return out
}

// FormatEras renders versions as "v04–v09", "v08, v09" or "v09";
// runs of three or more are ranges.
func FormatEras(vs []int) string {
	var parts []string
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
			j++
		}
		switch {
		case j-i >= 2:
			parts = append(parts, fmt.Sprintf("v%02d–v%02d", vs[i], vs[j]))
		default:
			for k := i; k <= j; k++ {
				parts = append(parts, fmt.Sprintf("v%02d", vs[k]))
			}
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
