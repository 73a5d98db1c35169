-- Tests of phoenix_hypervisor_setup_902.lua.

test("a running Docker is enabled at boot and runs a container", function(t)
  local r = t.run{ exec = { { "^docker info", stdout = "28.3.3\n" } } }
  t.ok(r.ok, r.error)
  t.eq(r.logs[1].message, "Docker 28.3.3 is running")
  t.called("^systemctl enable docker$")
  t.called("^docker run %-%-rm hello%-world$")
end)

-- The plan is what the run does: a dry-run (whose reads answer nothing)
-- lists the same calls as a run, enabling included.
test("dry-run lists what a run does", function(t)
  local run = t.run{}
  local plan = t.run{ dry_run = true }
  t.ok(plan.ok, plan.error)
  t.called("^systemctl enable docker$")
  t.eq(#plan.calls, #run.calls)
  for i, c in ipairs(run.calls) do
    t.eq(plan.calls[i].cmd, c.cmd)
  end
end)

test("Docker down fails with a hint", function(t)
  local r = t.run{ exec = { { "^docker info", code = 1, stderr = "Cannot connect to the Docker daemon" } } }
  t.ok(not r.ok)
  t.eq(r.line, 5)
  t.match(r.message, "Cannot connect to the Docker daemon %(the container needs features nesting=1,keyctl=1%)")
  t.not_called("hello%-world")
  t.not_called("systemctl enable")
end)

test("a failing test container fails the hook", function(t)
  local r = t.run{ exec = { { "hello%-world", code = 125, stderr = "pull access denied" } } }
  t.ok(not r.ok)
  t.eq(r.line, 14)
end)
