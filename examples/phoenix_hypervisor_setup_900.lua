-- CT 900 BaseTemplate: the base packages and the locale every clone inherits.
local packages = { "ca-certificates", "curl", "gnupg", "htop", "jq", "locales", "rsync", "vim", "wget" }
local locale = "en_US.UTF-8"
local apt_env = { env = { DEBIAN_FRONTEND = "noninteractive" }, timeout = 900 }

log.info("installing %d base packages", #packages)
pct_exec({ "apt-get", "update" }, apt_env)
pct_exec({ "apt-get", "install", "-y", "--no-install-recommends", unpack(packages) }, apt_env)

-- `locale -a` spells it en_US.utf8; generate it only when it is missing.
local have = pct_exec({ "locale", "-a" }).stdout
if not have:lower():find("en_us%.utf%-?8") then
  log.info("generating locale %s", locale)
  pct_exec({ "locale-gen", locale })
end
pct_exec({ "update-locale", "LANG=" .. locale })
