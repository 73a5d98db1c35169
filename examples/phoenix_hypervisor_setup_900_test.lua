-- Tests of phoenix_hypervisor_setup_900.lua (run with `phoenix hook test`).

test("installs the base packages and generates the locale", function(t)
  local r = t.run{ exec = { { "^locale %-a$", stdout = "C\nC.utf8\nPOSIX\n" } } }
  t.ok(r.ok, r.error)
  t.eq(t.called("^apt%-get install").env, { DEBIAN_FRONTEND = "noninteractive" })
  t.match(t.called("^apt%-get install").cmd, " jq ")
  t.called("^locale%-gen en_US%.UTF%-8$")
  t.called("^update%-locale LANG=en_US%.UTF%-8$")
end)

test("keeps an existing locale", function(t)
  local r = t.run{ exec = { { "^locale %-a$", stdout = "C\nen_US.utf8\nPOSIX\n" } } }
  t.ok(r.ok, r.error)
  t.not_called("^locale%-gen")
  t.called("^update%-locale")
end)

test("fails with apt's error", function(t)
  local r = t.run{ exec = { { "^apt%-get install", code = 100, stderr = "E: Unable to locate package jq" } } }
  t.ok(not r.ok)
  t.eq(r.line, 8)
  t.match(r.message, "exit 100: E: Unable to locate package jq")
  t.not_called("^locale")
end)

test("dry-run records every step", function(t)
  local r = t.run{ dry_run = true }
  t.ok(r.ok, r.error)
  t.eq(#r.calls, 5)
  t.eq(r.calls[2].line, 8)
end)
