-- CT 101's hook: writes a file inside its own container and reads it back.
local path = "/root/phoenix-demo.txt"
local host = pct_exec({ "hostname" }).stdout:gsub("%s+$", "")

pct_push("written by a Lua hook in " .. host .. " (CT " .. phoenix.ctid .. ")\n", path, { perms = "0644" })

local back = pct_exec({ "cat", path }).stdout
log.info("CT %d: %s holds: %s", phoenix.ctid, path, (back:gsub("%s+$", "")))
