-- CT 902 BaseTemplateDocker: Docker Engine runs, starts at boot and can run
-- a container.
local info = pct_exec({ "docker", "info", "--format", "{{.ServerVersion}}" }, { check = false })
if info.code ~= 0 then
  error("Docker is not running in CT " .. phoenix.ctid .. ": " .. info.stderr ..
    " (the container needs features nesting=1,keyctl=1)")
end
log.info("Docker %s is running", info.stdout:match("%S+") or "?")

-- Enabling is idempotent: done every run, so the plan lists exactly what
-- the run does (a dry-run cannot read whether it is enabled already).
pct_exec({ "systemctl", "enable", "docker" })

pct_exec({ "docker", "run", "--rm", "hello-world" }, { timeout = 300 })
