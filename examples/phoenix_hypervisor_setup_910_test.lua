-- Tests of phoenix_hypervisor_setup_910.lua.
local config = { network = { portainer_server_port = 9443 } }

test("running and answering", function(t)
  local r = t.run{ config = config, exec = { { "^docker inspect", stdout = "true\n" } } }
  t.ok(r.ok, r.error)
  t.called("^curl %-ksSf %-%-max%-time 5 %-o /dev/null https://127%.0%.0%.1:9443/api/system/status$")
  t.eq(r.logs[1].message, "Portainer answers on port 9443 (attempt 1)")
end)

test("answers after a few attempts", function(t)
  local r = t.run{ config = config, exec = {
    { "^docker inspect", stdout = "true\n" },
    { "^curl", code = 7, times = 2 },
  } }
  t.ok(r.ok, r.error)
  t.match(r.logs[1].message, "attempt 3")
  t.eq(r.slept, 6)
end)

test("gives up after the bounded wait", function(t)
  local r = t.run{ config = config, exec = {
    { "^docker inspect", stdout = "true\n" },
    { "^curl", code = 7 },
  } }
  t.ok(not r.ok)
  t.match(r.message, "did not answer on https://127%.0%.0%.1:9443/api/system/status within 60s")
  t.eq(r.slept, 60)
end)

test("a stopped portainer container fails", function(t)
  local r = t.run{ config = config, exec = { { "^docker inspect", stdout = "false\n" } } }
  t.ok(not r.ok)
  t.eq(r.line, 9)
  t.not_called("^curl")
end)

test("never probes the container's address from the host", function(t)
  local r = t.run{ config = config, exec = { { "^docker inspect", stdout = "true\n" } } }
  t.not_called("10%.0%.0%.")
end)
