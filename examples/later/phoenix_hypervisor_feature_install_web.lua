-- Feature "web" (CT 960 webGateway): nginx serving the mount point
-- /var/www/html, whose host directory phoenix made and gave to www-data
-- (uid/gid 33 in the container). A feature hook runs for every container
-- that lists the feature, after the built-in stages, bound to that
-- container; it runs again only when it or the container's entry changes.
local ct = config.container()

local have = pct_exec({ "sh", "-c", "command -v nginx" }, { check = false })
if have.code ~= 0 then
  pct_exec({ "sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx" },
    { timeout = 600 })
else
  log.info("nginx already installed")
end

local page = pct_exec({ "test", "-s", "/var/www/html/index.html" }, { check = false })
if page.code ~= 0 then
  pct_exec({ "mkdir", "-p", "/var/www/html" })
  pct_push("<h1>" .. (ct.name or "phoenix") .. "</h1>\n", "/var/www/html/index.html",
    { user = "www-data", group = "www-data", perms = "0644" })
end

pct_exec({ "systemctl", "enable", "--now", "nginx" })
log.info("nginx serves /var/www/html in CT %d", phoenix.ctid)
