-- Tests of phoenix_hypervisor_setup_920.lua.

test("installs vLLM into a venv", function(t)
  local r = t.run{ exec = { { "^/opt/vllm/bin/python %-c", stdout = "0.10.1" } } }
  t.ok(r.ok, r.error)
  t.called("^python3 %-m venv /opt/vllm$")
  t.eq(t.called("^/opt/vllm/bin/pip install vllm$").line, 17)
  t.eq(r.logs[1].message, "vLLM 0.10.1 installed in /opt/vllm")
end)

test("a failed pip install fails the hook with pip's error", function(t)
  local r = t.run{ exec = {
    { "pip install vllm", code = 1, stderr = "ERROR: No matching distribution found for vllm" },
  } }
  t.ok(not r.ok)
  t.eq(r.line, 17)
  t.match(r.message, "No matching distribution found for vllm")
  t.not_called("^/opt/vllm/bin/python %-c")
end)

-- The plan is what the run does: a dry-run (whose reads answer nothing)
-- lists the whole installation, exactly the calls a run makes, whether
-- or not vLLM is there already.
test("dry-run lists what a run does", function(t)
  local plan = t.run{ dry_run = true }
  t.ok(plan.ok, plan.error)
  t.called("pip install vllm")
  t.eq(#plan.calls, 6)
  for _, installed in ipairs({ false, true }) do
    local exec = {}
    if installed then
      exec = { { "^/opt/vllm/bin/python %-c", stdout = "0.10.1" } }
    end
    local run = t.run{ exec = exec }
    t.eq(#run.calls, #plan.calls)
    for i, c in ipairs(plan.calls) do
      t.eq(run.calls[i].cmd, c.cmd)
    end
  end
end)
