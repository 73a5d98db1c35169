-- CT 950 vllmQwen3Coder: serve the configured model with vLLM as a systemd
-- service, with the Hugging Face token read through config.secret, then
-- wait (bounded) until it is healthy. The health probe runs inside the
-- container on localhost.
local ct = config.container()
local model = ct.vllm_model or error("vllm_model is not set for CT " .. phoenix.ctid)
local port = ct.vllm_port or 8000
local tp = ct.vllm_tensor_parallel_size or 1
local token = config.secret("core_paths.hf_token_file")

-- The token goes into a root-only file, never onto a command line.
pct_exec({ "mkdir", "-p", "/etc/vllm" })
pct_push("HF_TOKEN=" .. token .. "\n", "/etc/vllm/hf.env", { perms = "0600" })

pct_push(string.format([[
[Unit]
Description=vLLM serving %s
After=network-online.target

[Service]
EnvironmentFile=/etc/vllm/hf.env
ExecStart=/opt/vllm/bin/vllm serve %s --host 0.0.0.0 --port %d --tensor-parallel-size %d
Restart=on-failure

[Install]
WantedBy=multi-user.target
]], model, model, port, tp), "/etc/systemd/system/vllm.service", { perms = "0644" })
pct_exec({ "systemctl", "daemon-reload" })
pct_exec({ "systemctl", "enable", "vllm.service" })
pct_exec({ "systemctl", "restart", "vllm.service" })

-- Loading a 30B model takes minutes: poll /health, at most 60 × 10 s.
local health = string.format("http://127.0.0.1:%d/health", port)
local healthy = false
for _ = 1, 60 do
  if pct_exec({ "curl", "-fsS", "--max-time", "5", "-o", "/dev/null", health }, { check = false }).code == 0 then
    healthy = true
    break
  end
  sleep(10)
end
if not healthy then
  error("vLLM did not become healthy on " .. health .. " within 10 minutes; see `journalctl -u vllm` in CT " .. phoenix.ctid)
end

local models = pct_exec({ "curl", "-fsS", "--max-time", "5", string.format("http://127.0.0.1:%d/v1/models", port) })
if not phoenix.dry_run and not models.stdout:find(model, 1, true) then
  error("vLLM is healthy but does not list " .. model .. ": " .. models.stdout)
end
log.info("vLLM serves %s on port %d", model, port)
