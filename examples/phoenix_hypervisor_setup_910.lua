-- CT 910 Portainer: the server container (started by the docker stage)
-- runs and its API answers. The probe runs inside the container, on
-- localhost: never from the host to the container's address.
local port = config.get("network.portainer_server_port") or 9443
local attempts, pause = 20, 3

local state = pct_exec({ "docker", "inspect", "--format", "{{.State.Running}}", "portainer" }, { check = false })
if state.code ~= 0 or (state.stdout:match("%S+") ~= "true" and not phoenix.dry_run) then
  error("the portainer container is not running: " .. (state.stderr ~= "" and state.stderr or state.stdout) ..
    " (see `docker logs portainer` in CT " .. phoenix.ctid .. ")")
end

local url = string.format("https://127.0.0.1:%d/api/system/status", port)
for attempt = 1, attempts do
  local probe = pct_exec({ "curl", "-ksSf", "--max-time", "5", "-o", "/dev/null", url }, { check = false })
  if probe.code == 0 then
    log.info("Portainer answers on port %d (attempt %d)", port, attempt)
    return
  end
  sleep(pause)
end
error(string.format("Portainer did not answer on %s within %ds", url, attempts * pause))
