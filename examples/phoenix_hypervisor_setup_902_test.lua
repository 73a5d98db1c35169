-- Tests of phoenix_hypervisor_setup_902.lua.

test("a running and enabled Docker", function(t)
  local r = t.run{ exec = {
    { "^docker info", stdout = "28.3.3\n" },
    { "^systemctl is%-enabled docker$", stdout = "enabled\n" },
  } }
  t.ok(r.ok, r.error)
  t.eq(r.logs[1].message, "Docker 28.3.3 is running")
  t.not_called("^systemctl enable")
  t.called("^docker run %-%-rm hello%-world$")
end)

test("enables Docker at boot", function(t)
  local r = t.run{ exec = { { "^systemctl is%-enabled", code = 1, stdout = "disabled\n" } } }
  t.ok(r.ok, r.error)
  t.called("^systemctl enable docker$")
end)

test("Docker down fails with a hint", function(t)
  local r = t.run{ exec = { { "^docker info", code = 1, stderr = "Cannot connect to the Docker daemon" } } }
  t.ok(not r.ok)
  t.eq(r.line, 5)
  t.match(r.message, "Cannot connect to the Docker daemon %(the container needs features nesting=1,keyctl=1%)")
  t.not_called("hello%-world")
end)

test("a failing test container fails the hook", function(t)
  local r = t.run{ exec = { { "hello%-world", code = 125, stderr = "pull access denied" } } }
  t.ok(not r.ok)
  t.eq(r.line, 15)
end)
