-- Tests of phoenix_hypervisor_setup_920.lua.

test("installs vLLM into a venv", function(t)
  local r = t.run{ exec = {
    { "^/opt/vllm/bin/python %-c", code = 1, stderr = "No such file or directory", times = 1 },
    { "^/opt/vllm/bin/python %-c", stdout = "0.10.1" },
  } }
  t.ok(r.ok, r.error)
  t.called("^python3 %-m venv /opt/vllm$")
  t.eq(t.called("^/opt/vllm/bin/pip install vllm$").line, 18)
  t.eq(r.logs[1].message, "vLLM 0.10.1 installed in /opt/vllm")
end)

test("an installed vLLM is kept", function(t)
  local r = t.run{ exec = { { "^/opt/vllm/bin/python %-c", stdout = "0.10.1" } } }
  t.ok(r.ok, r.error)
  t.eq(#r.calls, 1)
  t.not_called("pip")
end)

test("a failed pip install fails the hook with pip's error", function(t)
  local r = t.run{ exec = {
    { "^/opt/vllm/bin/python %-c", code = 1 },
    { "pip install vllm", code = 1, stderr = "ERROR: No matching distribution found for vllm" },
  } }
  t.ok(not r.ok)
  t.eq(r.line, 18)
  t.match(r.message, "No matching distribution found for vllm")
end)

test("dry-run shows the whole installation", function(t)
  local r = t.run{ dry_run = true }
  t.ok(r.ok, r.error)
  t.called("pip install vllm")
  t.eq(#r.calls, 7)
end)
