-- CT 920 BaseTemplateVLLM: vLLM in a Python virtual environment, baked
-- into the template its serving clones start from.
local venv = "/opt/vllm"
local python = venv .. "/bin/python"
local show_version = { python, "-c", "import sys, vllm; sys.stdout.write(vllm.__version__)" }

-- Every step is idempotent (apt-get and pip keep what is installed, venv
-- keeps an existing environment), so the hook installs unconditionally:
-- the plan lists exactly what the run does, where a branch on "is vLLM
-- there?" would be a guess in a dry-run, which cannot read the answer.
-- The hook runs again only when its config or code changes (or --force).
local apt = { env = { DEBIAN_FRONTEND = "noninteractive" }, timeout = 900 }
pct_exec({ "apt-get", "update" }, apt)
pct_exec({ "apt-get", "install", "-y", "--no-install-recommends", "python3-venv", "python3-pip", "python3-dev", "build-essential" }, apt)
pct_exec({ "python3", "-m", "venv", venv })
pct_exec({ venv .. "/bin/pip", "install", "--upgrade", "pip" }, { timeout = 600 })
pct_exec({ venv .. "/bin/pip", "install", "vllm" }, { timeout = 3600 })

local version = pct_exec(show_version).stdout
log.info("vLLM %s installed in %s", version, venv)
