---@meta phoenix
-- LuaLS definitions of the Phoenix hook API (phoenix_hypervisor_setup_<CTID>.lua)
-- and of the hook test API (phoenix_hypervisor_setup_<CTID>_test.lua).
--
-- Point the editor at this directory, e.g. a .luarc.json beside the hooks:
--   {
--     "runtime.version": "Lua 5.1",
--     "runtime.builtin": { "io": "disable", "os": "disable", "debug": "disable",
--                          "package": "disable", "coroutine": "disable" },
--     "workspace.library": ["<phoenix checkout>/luaapi"]
--   }
-- The sandbox has Lua 5.1's base, string, table and math libraries only, without
-- dofile, loadfile, load, loadstring, require, module, getfenv, setfenv,
-- collectgarbage, newproxy and string.dump. A test (luaapi/meta_test.go) keeps
-- this file in step with what the sandbox really exposes.

---@class PhoenixInfo
---@field ctid integer the container this hook belongs to (the only one it can act on)
---@field dry_run boolean true in `phoenix plan` / `run --dry-run`: effects are recorded, not performed
---@field version string the phoenix version
phoenix = {}

---@class PctExecOptions
---@field check? boolean raise on a non-zero exit (default true); false: return the result
---@field timeout? number seconds before the command is stopped
---@field stdin? string fed to the command's standard input
---@field env? table<string, string> environment inside the container (`env NAME=value` precedes the command)

---@class PctExecResult
---@field code integer exit code (0 in dry-run)
---@field stdout string standard output ("" in dry-run)
---@field stderr string standard error ("" in dry-run)
---@field ok boolean code == 0

--- Runs a command in this hook's own container: `pct exec CTID -- argv...`.
--- A list runs exactly as given (no shell); a string runs with `sh -c`.
--- Raises "pct_exec {argv}: exit N: <stderr>" on a non-zero exit unless opts.check is false.
---@param argv string[]|string
---@param opts? PctExecOptions
---@return PctExecResult
function pct_exec(argv, opts) end

---@class PctPushOptions
---@field perms? string octal mode, e.g. "0644"
---@field user? string owner (name or number)
---@field group? string group (name or number)

--- Writes content to the absolute path dest inside the container (`pct push`).
---@param content string
---@param dest string
---@param opts? PctPushOptions
function pct_push(content, dest, opts) end

--- Takes a snapshot of the container; name: a letter, then letters, digits, '_' or '-', at most 40.
---@param name string
function pct_snapshot(name) end

--- The container's state.
---@return "running"|"stopped"|"missing"
function pct_status() end

--- Waits, cancellable by the hook timeout and Ctrl-C (`sleep(math.huge)`: until then);
--- returns at once in dry-run.
---@param seconds number
function sleep(seconds) end

--- Read-only views of the configuration: writes raise "config is read-only".
config = {}

--- A value of phoenix_hypervisor_config.json by dotted path ("network.portainer_server_port",
--- "list.1" for the first element); nil when absent; no path: the whole document.
---@param path? string
---@return any
function config.get(path) end

--- A value of phoenix_lxc_configs.json by dotted path ("nvidia_driver_version").
---@param path? string
---@return any
function config.lxc(path) end

--- A container's entry of lxc_configs, unknown fields included; default: this hook's container.
---@param ctid? integer
---@return table|nil
function config.container(ctid) end

--- The content of the host file named at path of the hypervisor config (trailing newlines
--- removed), e.g. config.secret("core_paths.hf_token_file"). It is redacted from every log
--- line, plan and error message.
---@param path string
---@return string
function config.secret(path) end

--- Log lines (string.format style) for the console and the run log, with the hook's line.
log = {}
---@param fmt string
---@param ... any
function log.debug(fmt, ...) end
---@param fmt string
---@param ... any
function log.info(fmt, ...) end
---@param fmt string
---@param ... any
function log.warn(fmt, ...) end
---@param fmt string
---@param ... any
function log.error(fmt, ...) end

-- ---------------------------------------------------------------------------
-- Hook tests (*_test.lua files, run by `phoenix hook test`)
-- ---------------------------------------------------------------------------

---@class PhoenixExecRule
---@field [1] string Lua pattern matched against the command (argv joined by spaces, env not included)
---@field code? integer exit code (default 0)
---@field stdout? string
---@field stderr? string
---@field times? integer answer this many matching calls, then fall through to the next rules

---@class PhoenixRunOptions
---@field hook? string hook file, relative to the test file (default: the test file's name without _test)
---@field ctid? integer default: from the hook's file name
---@field dry_run? boolean
---@field status? "running"|"stopped"|"missing" the fake container's state (default "running"; pct_exec and pct_push fail on a stopped one, as pct's do)
---@field files? table<string, string> files already in the container (pct_exec {"cat", path} reads them); their directories exist
---@field dirs? string[] more directories that exist in the fake container (a fresh Debian's always do; pct_push into any other fails, as pct's does, until a pct_exec mkdir makes it)
---@field secrets? table<string, string> config.secret answers by config path
---@field exec? PhoenixExecRule[] scripted pct_exec answers, first match wins (default: exit 0, no output)
---@field config? table phoenix_hypervisor_config.json as config.get sees it
---@field lxc? table phoenix_lxc_configs.json as config.lxc sees it
---@field container? table this container's entry, as config.container() sees it

---@class PhoenixCall
---@field op "exec"|"push"|"snapshot"|"status"
---@field cmd string exec: the command inside the container; others: the pct argv
---@field argv string[] the pct argv (without "pct")
---@field env? table<string, string>
---@field line integer the hook's line that made the call

---@class PhoenixLogLine
---@field level "DEBUG"|"INFO"|"WARN"|"ERROR"
---@field message string
---@field line integer

---@class PhoenixRunResult
---@field ok boolean the hook succeeded
---@field error? string "path:line: message" when it failed
---@field message? string the error message alone
---@field line? integer the hook's line that failed
---@field calls PhoenixCall[] backend calls in order
---@field logs PhoenixLogLine[] log.* and print lines
---@field output PhoenixLogLine[] lines the commands run by pct_exec printed (stderr at WARN)
---@field files? table<string, string> the fake container's files afterwards
---@field snapshots? string[] the fake container's snapshots afterwards
---@field slept number seconds the hook slept (virtual: tests never wait)

---@class PhoenixTest
---@field run fun(opts?: PhoenixRunOptions): PhoenixRunResult runs the hook in a fresh sandbox on a fake container
---@field ok fun(value: any, msg?: string) fails the case unless value is true
---@field eq fun(got: any, want: any, msg?: string) deep equality of plain values
---@field match fun(s: string, pattern: string, msg?: string) fails unless s matches the Lua pattern
---@field called fun(pattern: string, msg?: string): PhoenixCall the first call of the last run whose cmd matches
---@field not_called fun(pattern: string, msg?: string) fails if a call of the last run matches
---@field fail fun(msg?: string) fails the case
---@field backend "fake"|"lxc" what the hook runs against: the in-process fake, or a real throwaway container (--backend lxc)

--- Declares a test case (test files only).
---@param name string
---@param fn fun(t: PhoenixTest)
function test(name, fn) end
