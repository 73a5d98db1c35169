package luaapi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func checkMessages(t *testing.T, src string) []string {
	t.Helper()
	var out []string
	for _, he := range Check("/hooks/h.lua", []byte(src)) {
		out = append(out, he.Error())
	}
	return out
}

func TestCheckFindsUndefinedGlobals(t *testing.T) {
	require.Equal(t, []string{"/hooks/h.lua:3: undefined: pct_exe (did you mean pct_exec?)"},
		checkMessages(t, "local x = 1\nlog.info('a')\npct_exe({'ls'})"))
	// In a function that is never called, too; each name once.
	require.Equal(t, []string{"/hooks/h.lua:2: undefined: confg (did you mean config?)"},
		checkMessages(t, "local function f()\n  return confg.get('a'), confg.lxc('b')\nend"))
	require.Equal(t, []string{
		"/hooks/h.lua:1: os: not available in the sandbox: use pct_exec to run a command in the container",
		"/hooks/h.lua:2: io: not available in the sandbox: use pct_exec to run a command in the container, pct_push to write a file there",
		"/hooks/h.lua:3: require: not available in the sandbox: a hook is one file; use pct_exec to run a command in the container",
	}, checkMessages(t, "os.execute('ls')\nlocal f = io.open('/x')\nlocal m = require('m')"))
	// Fields of the sandbox's tables.
	require.Equal(t, []string{
		"/hooks/h.lua:1: undefined: string.frmat (did you mean string.format?)",
		"/hooks/h.lua:2: undefined: log.inf (did you mean log.info?)",
	}, checkMessages(t, "local s = string.frmat('%d', 1)\nlog.inf('x')\nlocal t = _G.pct_push"))
	require.Equal(t, []string{"/hooks/h.lua:1: undefined: zzzz_unknown"}, checkMessages(t, "zzzz_unknown()"))
}

func TestCheckAcceptsDefinedNames(t *testing.T) {
	require.Empty(t, checkMessages(t, `
HELPER = {}
function setup() return HELPER end
local function later() return CACHE end
function init() CACHE = 1 end
_G.VIA_G = 2
string.trim = function(s) return (s:gsub("^%s+", "")) end
local a = VIA_G + #string.trim(" x ") + math.floor(math.huge) + phoenix.ctid
local r = pct_exec({"true"}, {check = false})
log.info("%s %s %s", tostring(r.ok), type(config.get), string.format("%d", 1))
print(pairs, ipairs, select, tostring, tonumber, type, error, assert, pcall, xpcall, unpack, next, rawget, rawset, setmetatable, getmetatable, table.concat, sleep, pct_status, pct_snapshot)
`))
}

func TestCheckReportsSyntaxErrors(t *testing.T) {
	hes := Check("/hooks/h.lua", []byte("local x = \n"))
	require.Len(t, hes, 1)
	require.Contains(t, hes[0].Message, "syntax error")
}

// At run time as well: the call of an undefined name says which name,
// not "attempt to call a non-function object"; a computed _G[name] is
// nil, as in Lua.
func TestUndefinedGlobalAtRunTime(t *testing.T) {
	err, b, _ := run(t, "pct_exec({'true'})\npct_exe({'ls'})")
	he := hookErr(t, err)
	require.Equal(t, "undefined: pct_exe (did you mean pct_exec?)", he.Message)
	require.Equal(t, 2, he.Line)
	require.Len(t, b.Calls(), 1)
	err, _, _ = run(t, "local n = 'pct_' .. 'exe'\nassert(_G[n] == nil)\nX = nil\nassert(X == nil)")
	require.NoError(t, err)
	err, _, _ = run(t, "setmetatable(_G, {})")
	require.Error(t, err)
}
