package luaapi

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// luar exposes the methods of what it is given: none of the types a
// sandbox hands it has one, by value or by pointer.
func TestLuarTypesHaveNoMethods(t *testing.T) {
	for _, v := range luarTypes {
		typ := reflect.TypeOf(v)
		require.Zero(t, typ.NumMethod(), "%s has methods", typ)
		require.Zero(t, reflect.PointerTo(typ).NumMethod(), "*%s has methods", typ)
	}
}

// The pct_exec result is luar's view of a plain struct: its fields read,
// and nothing writes into it, calls a Go method or reaches a reflect
// value; the config views stay read-only tables that pairs and # see.
func TestPctExecResultIsReadOnlyPlainData(t *testing.T) {
	err, _, _ := run(t, `
local r = pct_exec({"true"})
assert(r.code == 0 and r.ok == true and r.stdout == "" and r.stderr == "")
assert(type(r) == "userdata" and getmetatable(r) == "gopher-luar")
local ok, e = pcall(function() r.code = 1 end)
assert(not ok and tostring(e):find("read%-only"), tostring(e))
assert(r.code == 0)
assert(r.Code == nil and r.String == nil and r.methods == nil and r.fields == nil)
for _, probe in ipairs({
  function() return -r end, function() return r ^ 1 end, function() return r + 1 end,
  function() return r() end, function() return #r end,
}) do
  assert(not pcall(probe), "a Go operation is reachable")
end
assert(not pcall(setmetatable, r, {}))
local c = config.container()
local n = 0
for k in pairs(c) do n = n + 1 end
assert(n > 0)
assert(not pcall(function() c.name = "x" end))`, withConfig)
	require.NoError(t, err)
}

// hook test's recorded calls: a list of luar records whose argv and env
// read like tables, refuse writes, and compare with t.eq.
func TestHookTestCallsAreReadOnlyRecords(t *testing.T) {
	tf := TestFile{Path: "/h/phoenix_hypervisor_setup_123_test.lua", Hook: writeTempHook(t, `pct_exec({"apt-get", "install", "-y", "jq"}, {env = {DEBIAN_FRONTEND = "noninteractive"}})
pct_exec({"true"})`), Source: []byte(`
test("calls", function(t)
  local r = t.run{}
  t.eq(#r.calls, 2)
  local c = t.called("^apt%-get install")
  t.eq(c.op, "exec")
  t.eq(c.argv[1], "exec")
  t.eq(#c.argv, 9)
  t.eq(c.env, { DEBIAN_FRONTEND = "noninteractive" })
  t.eq(c.env.DEBIAN_FRONTEND, "noninteractive")
  t.eq(r.calls[2].env, nil)
  t.eq(r.calls[2].line, 2)
  local n = 0
  for _, call in ipairs(r.calls) do n = n + 1 end
  t.eq(n, 2)
  t.ok(not pcall(function() c.argv[1] = "x" end), "argv is read-only")
  t.ok(not pcall(function() c.env.X = "y" end), "env is read-only")
  t.ok(not pcall(function() c.op = "y" end), "the record is read-only")
  t.ok(not pcall(function() return c.argv + "x" end), "no append")
  t.eq(c.argv[1], "exec")
end)`)}
	cases, err := RunTestFile(t.Context(), tf)
	require.NoError(t, err)
	require.Len(t, cases, 1)
	require.NoError(t, cases[0].Err)
}

func writeTempHook(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "phoenix_hypervisor_setup_123.lua")
	require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	return p
}
