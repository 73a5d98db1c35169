-- Tests of phoenix_hypervisor_feature_install_web.lua (feature "web").

test("installs nginx, writes the page, enables the service", function(t)
  local r = t.run{ ctid = 960, exec = {
    { "^sh %-c command %-v nginx$", code = 1 },
    { "^test %-s /var/www/html/index.html$", code = 1 },
  } }
  t.ok(r.ok, r.error)
  t.called("apt%-get install %-y %-qq nginx")
  t.called("^mkdir %-p /var/www/html$")
  t.eq(r.files["/var/www/html/index.html"], "<h1>webGateway</h1>\n")
  t.called("^systemctl enable %-%-now nginx$")
end)

test("an installed nginx and a page already there are left alone", function(t)
  local r = t.run{ ctid = 960, exec = {
    { "^sh %-c command %-v nginx$", stdout = "/usr/sbin/nginx\n" },
    { "^test %-s /var/www/html/index.html$" },
  } }
  t.ok(r.ok, r.error)
  t.not_called("apt%-get")
  t.eq(r.files["/var/www/html/index.html"], nil)
  t.eq(r.logs[1].message, "nginx already installed")
end)

test("a failed install fails the feature", function(t)
  local r = t.run{ ctid = 960, exec = {
    { "^sh %-c command %-v nginx$", code = 1 },
    { "apt%-get", code = 100, stderr = "E: Unable to locate package nginx" },
  } }
  t.ok(not r.ok)
  t.match(r.message, "Unable to locate package nginx")
  t.not_called("^systemctl")
end)
