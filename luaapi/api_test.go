package luaapi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/internal/memhost"
	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

func TestSandboxHasNoDangerousGlobals(t *testing.T) {
	err, _, _ := run(t, `
for _, name in ipairs({"dofile", "loadfile", "load", "loadstring", "require", "module", "getfenv",
    "setfenv", "collectgarbage", "newproxy", "os", "io", "debug", "package", "channel", "coroutine"}) do
  assert(_G[name] == nil, name .. " is reachable")
end
assert(string.dump == nil)
assert(type(string.rep) == "function" and type(table.insert) == "function" and type(math.floor) == "function")`)
	require.NoError(t, err)
}

func TestStringMetatableCannotBeReplaced(t *testing.T) {
	err, _, _ := run(t, `
assert(getmetatable("") == "protected")
assert(("x"):rep(3) == "xxx")
local ok, e = pcall(setmetatable, "", {})
assert(not ok and e:find("table expected"), e)
ok, e = pcall(setmetatable, 1, {})
assert(not ok)`)
	require.NoError(t, err)
}

func TestSetmetatableOnTables(t *testing.T) {
	err, _, _ := run(t, `
local t = setmetatable({}, {__index = function() return 7 end})
assert(t.x == 7)
local p = setmetatable({}, {__metatable = "locked"})
assert(not pcall(setmetatable, p, {}))`)
	require.NoError(t, err)
}

func TestStateIsFreshPerRun(t *testing.T) {
	err, _, _ := run(t, "LEAK = 1\nstring.upper = nil")
	require.NoError(t, err)
	err, _, _ = run(t, "assert(rawget(_G, 'LEAK') == nil)\nassert(string.upper('a') == 'A')")
	require.NoError(t, err)
}

func TestPhoenixTable(t *testing.T) {
	err, _, _ := run(t, `assert(phoenix.ctid == 950); assert(phoenix.dry_run == true); assert(phoenix.version == "1.2.3")`,
		func(o *Options) { o.DryRun = true; o.Version = "1.2.3" })
	require.NoError(t, err)
}

func testConfig() *engine.Config {
	return &engine.Config{
		Hypervisor: map[string]any{
			"core_paths": map[string]any{"hf_token_file": "secrets/hf_token"},
			"users":      []any{map[string]any{"name": "alice"}, map[string]any{"name": "bob"}},
			"timezone":   "UTC",
		},
		LXC: map[string]any{"nvidia_driver_version": "580.76.05", "lxc_configs": map[string]any{"950": map[string]any{"name": "vllm"}}},
		Containers: map[int]*engine.Container{
			950: {CTID: 950, Raw: map[string]any{"name": "vllm", "vllm_model": "Qwen/Qwen2.5", "ports": []any{8000.0, 8001.0}}},
			900: {CTID: 900, Raw: map[string]any{"name": "base"}},
		},
	}
}

func withConfig(o *Options) { o.Config = testConfig() }

func TestConfigLookups(t *testing.T) {
	err, _, _ := run(t, `
assert(config.get("timezone") == "UTC")
assert(config.get("users.2.name") == "bob")
assert(config.get("nope.x") == nil)
assert(config.lxc("nvidia_driver_version") == "580.76.05")
assert(config.lxc("lxc_configs.950.name") == "vllm")
local c = config.container()
assert(c.name == "vllm" and c.vllm_model == "Qwen/Qwen2.5")
assert(#c.ports == 2 and c.ports[2] == 8001)
local n = 0
for i, p in ipairs(c.ports) do n = n + p end
assert(n == 16001)
local keys = {}
for k in pairs(c) do keys[#keys + 1] = k end
assert(table.concat(keys, ",") == "name,ports,vllm_model", table.concat(keys, ","))
assert(config.container(900).name == "base")
assert(config.container(12345) == nil)
assert(next(c) == "name")
assert(select("#", unpack(c.ports)) == 2)
assert(table.concat(c.ports, "+") == "8000+8001")`, withConfig)
	require.NoError(t, err)
}

func TestConfigIsReadOnly(t *testing.T) {
	for _, src := range []string{
		`config.container().name = "x"`,
		`config.get("users")[3] = {}`,
		`config.get("users")[1].name = "eve"`,
		`table.insert(config.get("users"), 1)`,
		`rawset(config.container(), "name", "x")`,
		`table.sort(config.container().ports)`,
	} {
		err, _, _ := run(t, src, withConfig)
		he := hookErr(t, err)
		assert.Contains(t, he.Message, "config is read-only", src)
		assert.Equal(t, 1, he.Line, src)
	}
	err, _, _ := run(t, `assert(not pcall(setmetatable, config.container(), {}))`, withConfig)
	require.NoError(t, err)
}

func TestConfigHostCopyUntouched(t *testing.T) {
	cfg := testConfig()
	err, _, _ := run(t, `local c = config.container(); pcall(function() c.name = "x" end)`, func(o *Options) { o.Config = cfg })
	require.NoError(t, err)
	require.Equal(t, "vllm", cfg.Containers[950].Raw["name"])
}

func TestConfigSecretIsRedacted(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "secrets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", "hf_token"), []byte("hf_SECRETTOKEN123\n"), 0o600))
	var registered []string
	err, b, ev := run(t, `
local tok = config.secret("core_paths.hf_token_file")
assert(tok == "hf_SECRETTOKEN123")
log.info("token is %s", tok)
print("again", tok)
pct_exec({"false", tok}, {check = false})
error("failed with " .. tok)`, withConfig, func(o *Options) {
		o.BaseDir = dir
		o.Redact = func(s string) { registered = append(registered, s) }
	})
	he := hookErr(t, err)
	require.Equal(t, "failed with [REDACTED]", he.Message)
	require.NotContains(t, he.Traceback, "SECRETTOKEN")
	require.Equal(t, []string{"hf_SECRETTOKEN123"}, registered)
	for _, e := range ev.all() {
		require.NotContains(t, e.Message, "SECRETTOKEN")
	}
	require.Len(t, b.Calls(), 1) // the sinks of the run redact action argv (registered above)
}

func TestConfigSecretErrors(t *testing.T) {
	err, _, _ := run(t, `config.secret("timezone")`, withConfig)
	require.Contains(t, hookErr(t, err).Message, "config.secret timezone")
	err, _, _ = run(t, `config.secret("core_paths.missing")`, withConfig)
	require.Contains(t, hookErr(t, err).Message, `bad argument #1 to secret ("core_paths.missing" is not a file path`)
}

func TestConfigSecretOfADirectoryNamesIt(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "secrets", "hf_token"), 0o755))
	err, _, _ := run(t, `config.secret("core_paths.hf_token_file")`, withConfig, func(o *Options) { o.BaseDir = dir })
	msg := hookErr(t, err).Message
	require.Contains(t, msg, "config.secret core_paths.hf_token_file: ")
	require.Contains(t, msg, filepath.Join(dir, "secrets", "hf_token")+" is not a regular file (a directory)")
}

func TestPctExecEnvWithAssignmentLikeProgram(t *testing.T) {
	// Without opts.env nothing reads argv[1] as an assignment: allowed.
	err, b, _ := run(t, `pct_exec({"/opt/a=b/run"})`)
	require.NoError(t, err)
	require.Equal(t, []string{"exec", "950", "--", "/opt/a=b/run"}, b.Calls()[0].Argv)
	// With it, refused before any call.
	err, b, _ = run(t, `pct_exec({"/opt/a=b/run"}, {env = {X = "1"}})`)
	require.Contains(t, hookErr(t, err).Message, "env would take it for a variable")
	require.Empty(t, b.Calls())
}

func TestPctExecTinyTimeoutIsATimeout(t *testing.T) {
	var got []time.Duration
	err, b, _ := run(t, `pct_exec({"true"}, {timeout = 1e-12}); pct_exec({"true"}, {timeout = 1.5})`, func(o *Options) {
		f := o.Backend.(*memhost.Backend)
		f.Exec_ = func(ctid int, argv []string, eo engine.ExecOptions) (engine.ExecResult, bool) {
			got = append(got, eo.Timeout)
			return engine.ExecResult{}, true
		}
	})
	require.NoError(t, err)
	require.Len(t, b.Calls(), 2)
	require.Equal(t, []time.Duration{time.Nanosecond, 1500 * time.Millisecond}, got)
}

func TestPctExecArgvAndResult(t *testing.T) {
	err, b, _ := run(t, `
local r = pct_exec({"apt-get", "install", "-y", "curl"})
assert(r.code == 0 and r.stdout == "" and r.ok)
pct_exec("echo hi | tee /tmp/x", {env = {B = "2", A = "1"}, stdin = "in", timeout = 5})
local bad = pct_exec({"false"}, {check = false})
assert(bad.code == 1 and not bad.ok)`)
	require.NoError(t, err)
	calls := b.Calls()
	require.Len(t, calls, 4)
	require.Equal(t, []string{"exec", "950", "--", "apt-get", "install", "-y", "curl"}, calls[0].Argv)
	// The environment is pushed as a file, then the command runs wrapped.
	require.Equal(t, []string{"push", "950", "<content>", pve.EnvFilePlaceholder, "--perms", "0600"}, pve.NormalizeEnvFile(calls[1].Argv))
	require.Equal(t, pve.EnvExecArgv(950, pve.EnvFilePlaceholder, []string{"sh", "-c", "echo hi | tee /tmp/x"}), pve.NormalizeEnvFile(calls[2].Argv))
	require.Equal(t, engine.Origin{CTID: 950, Stage: "hook", Source: "phoenix_hypervisor_setup_950.lua:2"}, calls[0].Origin)
	require.Equal(t, "phoenix_hypervisor_setup_950.lua:4", calls[2].Origin.Source)
}

func TestPctExecRaisesOnFailure(t *testing.T) {
	b := runningFake(950)
	b.Exec_ = func(ctid int, argv []string, o engine.ExecOptions) (engine.ExecResult, bool) {
		return engine.ExecResult{Code: 100, Stderr: "E: Unable to locate package nope\n"}, true
	}
	err := Run(context.Background(), Options{CTID: 950, Path: "h/phoenix_hypervisor_setup_950.lua", Source: []byte("\npct_exec({'apt-get', 'install', 'nope'})"), Backend: b})
	he := hookErr(t, err)
	require.Equal(t, 2, he.Line)
	require.Equal(t, `pct_exec {"apt-get", "install", "nope"}: exit 100: E: Unable to locate package nope`, he.Message)
}

func TestPctExecBackendError(t *testing.T) {
	b := runningFake(950)
	b.Put(950, &memhost.Container{})
	err := Run(context.Background(), Options{CTID: 950, Path: "x.lua", Source: []byte("pct_exec({'true'})"), Backend: b})
	require.Contains(t, hookErr(t, err).Message, "not running")
}

func TestPctExecArgumentErrors(t *testing.T) {
	for src, want := range map[string]string{
		`pct_exec()`:                                   "bad argument #1 to pct_exec (argv: a list of strings",
		`pct_exec({})`:                                 "argv: the list is empty",
		`pct_exec({"ls", 1})`:                          "argv[2]: a string expected, got number",
		`pct_exec({"ls", "a\0b"})`:                     "NUL",
		`pct_exec({"ls", x = "y"})`:                    "a list expected",
		`pct_exec({"ls"}, {chek = false})`:             `unknown option "chek"`,
		`pct_exec({"ls"}, {timeout = -1})`:             "opts.timeout",
		`pct_exec({"ls"}, {env = {["A B"] = "x"}})`:    "opts.env",
		`pct_exec({"ls"}, {stdin = {}})`:               "opts.stdin",
		`pct_exec({"ls"}, 5)`:                          "bad argument #2 to pct_exec (opts: a table expected",
		`pct_exec({string.rep("x", 2 * 1024 * 1024)})`: "more than the limit",
		`pct_push("x", "relative/path")`:               "bad argument #2 to pct_push (dest",
		`pct_push("x", "/etc/x", {perms = "rwx"})`:     "opts.perms",
		`pct_push("x", "/etc/x", {mode = "0644"})`:     `unknown option "mode"`,
		`pct_snapshot("1bad")`:                         "bad argument #1 to pct_snapshot (name",
		`pct_snapshot(string.rep("a", 41))`:            "at most 40",
		`sleep(-1)`:                                    "bad argument #1 to sleep",
		`sleep(0/0)`:                                   "bad argument #1 to sleep",
		`pct_exec({"A=1", "ls"}, {env = {B = "2"}})`:   `argv[1] "A=1" contains '=' and opts.env is set`,
		`pct_exec({"ls"}, {timeout = 1e300})`:          "opts.timeout",
	} {
		err, _, _ := run(t, src)
		he := hookErr(t, err)
		assert.Contains(t, he.Message, want, src)
		assert.Equal(t, 1, he.Line, src)
	}
	err, _, _ := run(t, "pct_exec({'ls'}, {check = 'no'})")
	require.Contains(t, hookErr(t, err).Message, "opts.check")
}

func TestPushSnapshotStatus(t *testing.T) {
	err, b, _ := run(t, `
assert(pct_status() == "running")
pct_push("hello\n", "/etc/motd", {perms = "0644", user = "root"})
local r = pct_exec({"cat", "/etc/motd"})
assert(r.stdout == "hello\n")
pct_snapshot("after-hook")`)
	require.NoError(t, err)
	c := b.Get(950)
	require.Equal(t, "hello\n", string(c.Files["/etc/motd"]))
	require.Equal(t, []string{"after-hook"}, c.Snapshots)
	var ops []string
	for _, c := range b.Calls() {
		ops = append(ops, c.Op+"@"+c.Origin.Source)
	}
	require.Equal(t, []string{"status@phoenix_hypervisor_setup_950.lua:2", "push@phoenix_hypervisor_setup_950.lua:3",
		"exec@phoenix_hypervisor_setup_950.lua:4", "snapshot@phoenix_hypervisor_setup_950.lua:6"}, ops)
}

func TestDryRun(t *testing.T) {
	b := runningFake(950)
	b.Exec_ = func(int, []string, engine.ExecOptions) (engine.ExecResult, bool) {
		return engine.ExecResult{Code: 3, Stdout: "out"}, true
	}
	start := time.Now()
	err := Run(context.Background(), Options{CTID: 950, Path: "x.lua", DryRun: true, Backend: b, Source: []byte(`
local r = pct_exec({"systemctl", "restart", "vllm"})
assert(r.code == 0 and r.stdout == "" and r.stderr == "")
sleep(3600)`)})
	require.NoError(t, err)
	require.Less(t, time.Since(start), 10*time.Second) // not the hour it asked for
	require.Len(t, b.Calls(), 1)
	require.Equal(t, "x.lua:2", b.Calls()[0].Origin.Source)
}

func TestCompile(t *testing.T) {
	require.NoError(t, Compile("a.lua", []byte("local x = 1")))
	err := Compile("/h/a.lua", []byte("local x = 1\nif then\n"))
	he := hookErr(t, err)
	require.Equal(t, 2, he.Line)
	require.True(t, strings.HasPrefix(he.Error(), "/h/a.lua:2: syntax error"), he.Error())
}

func TestRuntimeErrorInNestedFunction(t *testing.T) {
	err, _, _ := run(t, "local function f()\n  local t = nil\n  return t.x\nend\nf()")
	he := hookErr(t, err)
	require.Equal(t, 3, he.Line)
	require.Contains(t, he.Traceback, "phoenix_hypervisor_setup_950.lua:5")
}

func TestErrorWithTableValueHasLine(t *testing.T) {
	err, _, _ := run(t, "\n\nerror({code = 1})")
	he := hookErr(t, err)
	require.Equal(t, 3, he.Line)
}
