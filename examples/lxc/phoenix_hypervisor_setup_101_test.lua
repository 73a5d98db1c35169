-- Tests of phoenix_hypervisor_setup_101.lua. `phoenix hook test` runs them
-- against a fake container; with --backend lxc, against a real throwaway one.

test("writes the demo file in its own container and reads it back", function(t)
  local r = t.run{}
  t.ok(r.ok, r.error)
  t.called("^hostname$")
  t.eq(t.called("^cat /root/phoenix%-demo%.txt$").op, "exec")
  t.match(r.logs[1].message, "holds: written by a Lua hook in .* %(CT 101%)")
end)

test("fails with the container's error when the file cannot be read", function(t)
  local r = t.run{ exec = { { "^cat ", code = 1, stderr = "cat: /root/phoenix-demo.txt: Permission denied" } } }
  t.ok(not r.ok)
  t.match(r.message, "Permission denied")
end)
