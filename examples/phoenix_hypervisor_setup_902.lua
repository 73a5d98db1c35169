-- CT 902 BaseTemplateDocker: Docker Engine runs, starts at boot and can run
-- a container.
local info = pct_exec({ "docker", "info", "--format", "{{.ServerVersion}}" }, { check = false })
if info.code ~= 0 then
  error("Docker is not running in CT " .. phoenix.ctid .. ": " .. info.stderr ..
    " (the container needs features nesting=1,keyctl=1)")
end
log.info("Docker %s is running", info.stdout:match("%S+") or "?")

local enabled = pct_exec({ "systemctl", "is-enabled", "docker" }, { check = false })
if enabled.stdout:match("%S+") ~= "enabled" and not phoenix.dry_run then
  pct_exec({ "systemctl", "enable", "docker" })
end

pct_exec({ "docker", "run", "--rm", "hello-world" }, { timeout = 300 })
