package engine

import (
	"os"
	"path/filepath"
	"strconv"
)

// Where the original system kept its configs: what a hook is told when
// the run's config came from elsewhere (HYPERVISOR_CONFIG_FILE, ...).
const (
	DefaultHypervisorConfig = "/usr/local/phoenix_hypervisor/etc/phoenix_hypervisor_config.json"
	DefaultLXCConfig        = "/usr/local/phoenix_hypervisor/etc/phoenix_lxc_configs.json"
)

// HookEnvVars are the variables Phoenix adds to a hook's environment (the
// names `hook_args` may use as ${NAME}).
var HookEnvVars = []string{
	"PHOENIX_CTID", "PHOENIX_DRY_RUN", "PHOENIX_DEBUG",
	"HYPERVISOR_CONFIG_FILE", "LXC_CONFIG_FILE", "MAIN_LOG_FILE",
	"GPU_ASSIGNMENT", "NVIDIA_DRIVER_VERSION", "NVIDIA_REPO_URL", "NVIDIA_RUNFILE_URL",
	"PORTAINER_ROLE", "PORTAINER_SERVER_IP", "PORTAINER_AGENT_PORT",
}

// HookEnv is the one definition of a hook's environment (HookEnvVars), as
// the old orchestrator passed it: GPU_ASSIGNMENT and PORTAINER_ROLE are
// "none" when unset, MAIN_LOG_FILE is /dev/null when the run has no log
// file, and the file paths are absolute (a hook runs from the hooks dir,
// so a relative --log-file must still name the run log). The hook's
// marker fingerprint covers the per-container values of the same map.
func HookEnv(req HookRequest) map[string]string {
	cfg, ct := req.Config, req.Container
	if cfg == nil {
		cfg = &Config{}
	}
	env := hookValues(cfg, ct)
	env["HYPERVISOR_CONFIG_FILE"] = absPath(orString(cfg.HypervisorFile, DefaultHypervisorConfig))
	env["LXC_CONFIG_FILE"] = absPath(orString(cfg.LXCFile, DefaultLXCConfig))
	env["MAIN_LOG_FILE"] = absPath(orString(req.LogFile, os.DevNull))
	env["PHOENIX_CTID"] = strconv.Itoa(ct.CTID)
	env["PHOENIX_DRY_RUN"] = map[bool]string{false: "0", true: "1"}[req.DryRun]
	env["PHOENIX_DEBUG"] = strconv.FormatBool(req.Verbose)
	return env
}

// hookValueVars are the per-container values of HookEnvVars: the ones a
// hook's marker fingerprint covers.
var hookValueVars = HookEnvVars[6:]

func hookValues(cfg *Config, ct *Container) map[string]string {
	env := map[string]string{
		"GPU_ASSIGNMENT":        orString(ct.GPUAssignment, "none"),
		"NVIDIA_DRIVER_VERSION": cfg.NvidiaDriverVersion,
		"NVIDIA_REPO_URL":       cfg.NvidiaRepoURL,
		"NVIDIA_RUNFILE_URL":    cfg.NvidiaRunfileURL,
		"PORTAINER_ROLE":        orString(ct.PortainerRole, "none"),
		"PORTAINER_SERVER_IP":   cfg.PortainerServerIP,
		"PORTAINER_AGENT_PORT":  "",
	}
	if cfg.PortainerAgentPort != 0 {
		env["PORTAINER_AGENT_PORT"] = strconv.Itoa(cfg.PortainerAgentPort)
	}
	return env
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
