package hooks

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The examples' Lua hook tests must pass: this is what `make test` runs
// through `phoenix hook test` as well.
func TestExampleLuaHookTests(t *testing.T) {
	var out bytes.Buffer
	passed, failed, err := RunTests(context.Background(), &out, TestOptions{HooksDir: "../examples"})
	require.NoError(t, err)
	require.Zero(t, failed, out.String())
	require.GreaterOrEqual(t, passed, 6, out.String())
	for _, ctid := range []string{"900", "901", "902", "910", "920", "950"} {
		require.Contains(t, out.String(), "--- PASS: phoenix_hypervisor_setup_"+ctid+"_test.lua/", "no passing test for CT %s", ctid)
	}
	require.Regexp(t, regexp.MustCompile(`(?m)^ok\t\.\./examples\t`), out.String())
}

// The summary line names what was tested: the file given, not the hooks
// dir (the machine's default one when no --hooks-dir was given).
func TestHookTestSummaryNamesTheFile(t *testing.T) {
	file := "../examples/phoenix_hypervisor_setup_900_test.lua"
	var out bytes.Buffer
	_, failed, err := RunTests(context.Background(), &out, TestOptions{HooksDir: "/usr/local/phoenix_hypervisor/bin", Files: []string{file}})
	require.NoError(t, err)
	require.Zero(t, failed, out.String())
	require.Regexp(t, regexp.MustCompile(`(?m)^ok\t`+regexp.QuoteMeta(file)+`\t`), out.String())
	require.NotContains(t, out.String(), "/usr/local/phoenix_hypervisor")
}

func writeLuaTest(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	return p
}

func TestHookTestOutputAndCounts(t *testing.T) {
	dir := t.TempDir()
	writeLuaTest(t, dir, "phoenix_hypervisor_setup_123.lua", "pct_exec({'systemctl', 'restart', 'x'})\nlog.info('restarted')\n")
	writeLuaTest(t, dir, "phoenix_hypervisor_setup_123_test.lua", `
test("passes", function(t)
  local r = t.run()
  t.ok(r.ok, r.error)
  t.called("^systemctl restart x$")
end)
test("fails on purpose", function(t)
  t.run()
  t.not_called("systemctl")
end)
test("compares", function(t)
  t.eq({1, {a = "b"}}, {1, {a = "c"}}, "deep")
end)
`)
	var out bytes.Buffer
	passed, failed, err := RunTests(context.Background(), &out, TestOptions{HooksDir: dir})
	require.NoError(t, err)
	require.Equal(t, 1, passed, out.String())
	require.Equal(t, 2, failed, out.String())
	text := out.String()
	require.Contains(t, text, "=== RUN   phoenix_hypervisor_setup_123_test.lua/passes\n--- PASS: phoenix_hypervisor_setup_123_test.lua/passes (")
	require.Contains(t, text, "--- FAIL: phoenix_hypervisor_setup_123_test.lua/fails_on_purpose (")
	require.Contains(t, text, `    phoenix_hypervisor_setup_123_test.lua:9: 1 call(s) match "systemctl", e.g. "systemctl restart x" (line 1)`)
	require.Contains(t, text, "    phoenix_hypervisor_setup_123.lua:2 [INFO] restarted")
	require.Contains(t, text, `phoenix_hypervisor_setup_123_test.lua:12: got {1, {a = "b"}}, want {1, {a = "c"}}: deep`)
	require.True(t, strings.HasSuffix(text, "1 passed, 2 failed\n"), text)
	require.Regexp(t, `(?m)^FAIL\t`, text)
}

func TestHookTestBrokenFile(t *testing.T) {
	dir := t.TempDir()
	p := writeLuaTest(t, dir, "phoenix_hypervisor_setup_5_test.lua", "test('x', function(t) end\n")
	empty := writeLuaTest(t, dir, "phoenix_hypervisor_setup_6_test.lua", "-- nothing\n")
	var out bytes.Buffer
	passed, failed, err := RunTests(context.Background(), &out, TestOptions{Files: []string{p, empty}})
	require.NoError(t, err)
	require.Equal(t, 0, passed)
	require.Equal(t, 2, failed, out.String())
	require.Contains(t, out.String(), "--- FAIL: phoenix_hypervisor_setup_5_test.lua (")
	require.Contains(t, out.String(), "phoenix_hypervisor_setup_5_test.lua:2: syntax error")
	require.Contains(t, out.String(), "no test cases")
}

func TestHookTestNoHookNamed(t *testing.T) {
	dir := t.TempDir()
	p := writeLuaTest(t, dir, "other_test.lua", "test('x', function(t) t.run() end)")
	var out bytes.Buffer
	_, failed, err := RunTests(context.Background(), &out, TestOptions{Files: []string{p}})
	require.NoError(t, err)
	require.Equal(t, 1, failed)
	require.Contains(t, out.String(), "no hook to run")
}

func TestHookTestUsageErrors(t *testing.T) {
	_, _, err := RunTests(context.Background(), &bytes.Buffer{}, TestOptions{Files: []string{"nope.lua"}})
	require.ErrorContains(t, err, "not a hook test file")
	_, _, err = RunTests(context.Background(), &bytes.Buffer{}, TestOptions{Backend: "lxc"})
	require.ErrorContains(t, err, "not available")
}

// The fake refuses what pct refuses: a push into a directory that does
// not exist (until a mkdir makes it), exec and push on a stopped
// container (scripted answers included), an unknown key in an exec rule;
// t.backend says what the hook runs against.
func TestHookTestFakeIsAsStrictAsPct(t *testing.T) {
	dir := t.TempDir()
	writeLuaTest(t, dir, "phoenix_hypervisor_setup_123.lua", `
if config.container().mkdir then pct_exec({"mkdir", "-p", "/etc/app/conf.d"}) end
if config.container().shell then pct_exec("set -e; mkdir -p /srv/x/y && true") end
pct_push("x", config.container().dest)`)
	writeLuaTest(t, dir, "phoenix_hypervisor_setup_123_test.lua", `
test("backend", function(t) t.eq(t.backend, "fake") end)
test("push into a missing dir", function(t)
  local r = t.run{ container = { dest = "/etc/app/conf.d/a.conf" } }
  t.ok(not r.ok)
  t.match(r.message, "the directory /etc/app/conf.d does not exist in the container")
end)
test("push after mkdir -p", function(t)
  local r = t.run{ container = { dest = "/etc/app/conf.d/a.conf", mkdir = true } }
  t.ok(r.ok, r.error)
  t.eq(r.files["/etc/app/conf.d/a.conf"], "x")
end)
test("push after a shell mkdir", function(t)
  t.ok(t.run{ container = { dest = "/srv/x/y/z", shell = true } }.ok)
end)
test("push into a base dir, a given dir, a file's dir", function(t)
  t.ok(t.run{ container = { dest = "/etc/a.conf" } }.ok)
  t.ok(t.run{ container = { dest = "/data/a" }, dirs = { "/data" } }.ok)
  t.ok(t.run{ container = { dest = "/opt/app/b" }, files = { ["/opt/app/a"] = "" } }.ok)
end)
test("stopped container", function(t)
  local r = t.run{ status = "stopped", container = { dest = "/etc/a", mkdir = true }, exec = { { "^mkdir" } } }
  t.ok(not r.ok)
  t.match(r.message, "container '123' not running!")
  r = t.run{ status = "stopped", container = { dest = "/etc/a" } }
  t.match(r.message, "CT 123 not running")
end)
test("unknown rule key", function(t)
  t.run{ exec = { { "^mkdir", stdot = "x" } } }
end)
test("rule value of the wrong type", function(t)
  t.run{ exec = { { "^mkdir", code = "1" } } }
end)
`)
	var out bytes.Buffer
	passed, failed, err := RunTests(context.Background(), &out, TestOptions{HooksDir: dir})
	require.NoError(t, err)
	require.Equal(t, 6, passed, out.String())
	require.Equal(t, 2, failed, out.String())
	require.Contains(t, out.String(), `exec[1]: unknown key "stdot" (known: the pattern first, then code, stdout, stderr, times)`)
	require.Contains(t, out.String(), `exec[1]: code: a whole number expected`)
}
