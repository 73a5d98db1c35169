-- CT 901 BaseTemplateGPU: check that the passed-through GPUs are visible
-- and run the driver the configuration asks for.
local want = config.lxc("nvidia_driver_version")
local assignment = config.container().gpu_assignment or "none"
local expected = select(2, assignment:gsub("%d+", ""))

local r = pct_exec({ "nvidia-smi", "--query-gpu=index,name,driver_version", "--format=csv,noheader" }, { check = false })
if r.code ~= 0 then
  error(string.format("nvidia-smi failed (exit %d): %s; check the driver and the GPU passthrough of CT %d",
    r.code, r.stderr, phoenix.ctid))
end
if phoenix.dry_run then
  log.info("dry-run: would check %d GPU(s) with driver %s", expected, want)
  return
end

local found = 0
for line in r.stdout:gmatch("[^\n]+") do
  local index, name, version = line:match("^%s*(%d+),%s*(.-),%s*(%S+)%s*$")
  if version ~= want then
    error(string.format("GPU %s runs driver %s, the configuration wants %s", tostring(index), tostring(version), want))
  end
  log.info("GPU %s: %s, driver %s", index, name, version)
  found = found + 1
end
if found ~= expected then
  error(string.format("nvidia-smi lists %d GPU(s), gpu_assignment %q wants %d", found, assignment, expected))
end
