-- Tests of phoenix_hypervisor_setup_950.lua.
local container = { vllm_model = "Qwen/Qwen3-Coder-30B-A3B-Instruct", vllm_port = 8000, vllm_tensor_parallel_size = 2 }
local config = { core_paths = { hf_token_file = "secrets/hf_token" } }
local secrets = { ["core_paths.hf_token_file"] = "hf_testTOKEN0123456789" }
local models = { "/v1/models", stdout = '{"data":[{"id":"Qwen/Qwen3-Coder-30B-A3B-Instruct"}]}' }

test("serves the model once healthy", function(t)
  local r = t.run{ container = container, config = config, secrets = secrets, exec = {
    { "/health$", code = 7, times = 2 }, models,
  } }
  t.ok(r.ok, r.error)
  t.eq(r.files["/etc/vllm/hf.env"], "HF_TOKEN=hf_testTOKEN0123456789\n")
  t.match(r.files["/etc/systemd/system/vllm.service"],
    "ExecStart=/opt/vllm/bin/vllm serve Qwen/Qwen3%-Coder%-30B%-A3B%-Instruct %-%-host 0%.0%.0%.0 %-%-port 8000 %-%-tensor%-parallel%-size 2\n")
  t.called("^systemctl restart vllm%.service$")
  t.eq(r.logs[1].message, "vLLM serves Qwen/Qwen3-Coder-30B-A3B-Instruct on port 8000")
end)

test("the token never reaches a command line or a log line", function(t)
  local r = t.run{ container = container, config = config, secrets = secrets, exec = { models } }
  t.ok(r.ok, r.error)
  t.not_called("hf_test")
  for _, l in ipairs(r.logs) do t.ok(not l.message:find("hf_test", 1, true), l.message) end
end)

test("gives up after the bounded health wait", function(t)
  local r = t.run{ container = container, config = config, secrets = secrets, exec = { { "/health$", code = 7 } } }
  t.ok(not r.ok)
  t.match(r.message, "did not become healthy on http://127%.0%.0%.1:8000/health within 10 minutes")
  t.not_called("/v1/models")
  t.eq(r.slept, 600)
end)

test("a healthy server without the model fails", function(t)
  local r = t.run{ container = container, config = config, secrets = secrets,
    exec = { { "/v1/models", stdout = '{"data":[]}' } } }
  t.ok(not r.ok)
  t.match(r.message, "does not list Qwen/Qwen3%-Coder%-30B%-A3B%-Instruct")
end)

test("a missing token file fails naming the setting", function(t)
  local r = t.run{ container = container, config = config }
  t.ok(not r.ok)
  t.eq(r.line, 9)
  t.match(r.message, "core_paths%.hf_token_file")
end)

test("dry-run records the plan and does not wait", function(t)
  local r = t.run{ container = container, config = config, secrets = secrets, dry_run = true }
  t.ok(r.ok, r.error)
  t.eq(t.called("^curl %-fsS %-%-max%-time 5 %-o /dev/null http://127%.0%.0%.1:8000/health$").line, 36)
  t.eq(#r.calls, 8)
  t.eq(r.slept, 0)
end)
