package luaapi

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	lua "github.com/yuin/gopher-lua"

	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
)

// lua51 are the standard globals a hook keeps; LuaLS knows them already.
var lua51 = map[string]bool{
	"assert": true, "error": true, "getmetatable": true, "ipairs": true, "next": true, "pairs": true,
	"pcall": true, "print": true, "rawequal": true, "rawget": true, "rawset": true, "select": true,
	"setmetatable": true, "tonumber": true, "tostring": true, "type": true, "unpack": true, "xpcall": true,
	"_G": true, "_VERSION": true, "string": true, "table": true, "math": true,
}

// declared parses phoenix.d.lua: global names, and the fields of global
// tables ("config.get") and of the test object ("t.run").
func declaredInMeta(t *testing.T) map[string]bool {
	f, err := os.Open("phoenix.d.lua")
	require.NoError(t, err)
	defer f.Close()
	out := map[string]bool{}
	var fields []string
	var class string
	classField := regexp.MustCompile(`^---@field (\w+)`)
	classLine := regexp.MustCompile(`^---@class (\w+)`)
	fn := regexp.MustCompile(`^function (\w+)(?:\.(\w+))?\(`)
	global := regexp.MustCompile(`^(\w+) = `)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := classLine.FindStringSubmatch(line); m != nil {
			class, fields = m[1], nil
			continue
		}
		if m := classField.FindStringSubmatch(line); m != nil {
			fields = append(fields, m[1])
			if class == "PhoenixTest" {
				out["t."+m[1]] = true
			}
			continue
		}
		if m := global.FindStringSubmatch(line); m != nil {
			out[m[1]] = true
			if class == "PhoenixInfo" && m[1] == "phoenix" {
				for _, f := range fields {
					out["phoenix."+f] = true
				}
			}
			class, fields = "", nil
			continue
		}
		if m := fn.FindStringSubmatch(line); m != nil {
			if m[2] == "" {
				out[m[1]] = true
			} else {
				out[m[1]+"."+m[2]] = true
			}
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// exposed enumerates, at run time, the globals of a hook's sandbox and of
// a test file's sandbox beyond Lua 5.1's, with the fields of their tables.
func exposed(t *testing.T) map[string]bool {
	out := map[string]bool{}
	collect := func(L *lua.LState) {
		L.G.Global.ForEach(func(k, v lua.LValue) {
			name := k.String()
			if lua51[name] {
				return
			}
			out[name] = true
			if tb, ok := v.(*lua.LTable); ok {
				tb.ForEach(func(fk, _ lua.LValue) { out[name+"."+fk.String()] = true })
			}
		})
	}
	s, cancel, err := newSandbox(context.Background(), Options{Backend: memhost.New()})
	require.NoError(t, err)
	collect(s.L)
	cancel()
	s.close()

	// The test file's sandbox: its extra global and the methods of t.
	// The probe case reports t's fields through its failure message.
	src := `for k in pairs(_G) do if k == "test" then PROBE = true end end
test("probe", function(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  table.sort(names)
  t.fail(PROBE and table.concat(names, " ") or "no test global")
end)`
	cases, err := RunTestFile(context.Background(), TestFile{Path: "probe_test.lua", Source: []byte(src)})
	require.NoError(t, err)
	var he *HookError
	require.ErrorAs(t, cases[0].Err, &he)
	require.NotEqual(t, "no test global", he.Message)
	out["test"] = true
	for _, m := range strings.Fields(he.Message) {
		out["t."+m] = true
	}
	return out
}

func TestMetaFileMatchesSandbox(t *testing.T) {
	got, want := keys(declaredInMeta(t)), keys(exposed(t))
	require.Equal(t, want, got, "luaapi/phoenix.d.lua is out of step with the sandbox: update it")
	require.Contains(t, got, "pct_exec")
	require.Contains(t, got, "config.secret")
	require.Contains(t, got, "phoenix.dry_run")
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
