-- CT 920 BaseTemplateVLLM: vLLM in a Python virtual environment, baked
-- into the template its serving clones start from.
local venv = "/opt/vllm"
local python = venv .. "/bin/python"
local show_version = { python, "-c", "import sys, vllm; sys.stdout.write(vllm.__version__)" }

local installed = pct_exec(show_version, { check = false })
if installed.code == 0 and not phoenix.dry_run then
  log.info("vLLM %s is already installed in %s", installed.stdout, venv)
  return
end

local apt = { env = { DEBIAN_FRONTEND = "noninteractive" }, timeout = 900 }
pct_exec({ "apt-get", "update" }, apt)
pct_exec({ "apt-get", "install", "-y", "--no-install-recommends", "python3-venv", "python3-pip", "python3-dev", "build-essential" }, apt)
pct_exec({ "python3", "-m", "venv", venv })
pct_exec({ venv .. "/bin/pip", "install", "--upgrade", "pip" }, { timeout = 600 })
pct_exec({ venv .. "/bin/pip", "install", "vllm" }, { timeout = 3600 })

local version = pct_exec(show_version).stdout
log.info("vLLM %s installed in %s", version, venv)
