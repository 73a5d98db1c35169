package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Defaults for values of phoenix_hypervisor_config.json, used when the
// file or the field is absent (v04 and v07 ship only the LXC file).
const (
	DefaultPortainerServerPort  = 9443
	DefaultPortainerAgentPort   = 9001
	DefaultPortainerServerImage = "portainer/portainer-ce:latest"
	DefaultPortainerAgentImage  = "portainer/agent:latest"
)

var ctidKey = regexp.MustCompile(`^[1-9][0-9]{2,8}$`)

// applyHypervisor fills the Config fields read from the hypervisor file.
func applyHypervisor(cfg *engine.Config, doc map[string]any) {
	cfg.PortainerServerPort = DefaultPortainerServerPort
	cfg.PortainerAgentPort = DefaultPortainerAgentPort
	cfg.PortainerServerImage = DefaultPortainerServerImage
	cfg.PortainerAgentImage = DefaultPortainerAgentImage
	if network, ok := doc["network"].(map[string]any); ok {
		cfg.PortainerServerIP = str(network["portainer_server_ip"])
		if n, ok := intOf(network["portainer_server_port"]); ok {
			cfg.PortainerServerPort = n
		}
		if n, ok := intOf(network["portainer_agent_port"]); ok {
			cfg.PortainerAgentPort = n
		}
	}
	if docker, ok := doc["docker"].(map[string]any); ok {
		if s := str(docker["portainer_server_image"]); s != "" {
			cfg.PortainerServerImage = s
		}
		if s := str(docker["portainer_agent_image"]); s != "" {
			cfg.PortainerAgentImage = s
		}
	}
}

// applyLXC fills the Config fields read from the LXC file and builds one
// Container per entry whose key is a valid CTID.
func applyLXC(p problems, cfg *engine.Config, doc map[string]any) {
	cfg.NvidiaDriverVersion = str(doc["nvidia_driver_version"])
	cfg.NvidiaRepoURL = str(doc["nvidia_repo_url"])
	cfg.NvidiaRunfileURL = str(doc["nvidia_runfile_url"])
	entries, _ := doc["lxc_configs"].(map[string]any)
	for _, key := range sortedKeys(entries) {
		path := pointer([]string{"lxc_configs", key})
		if !ctidKey.MatchString(key) {
			p.errorf(path, "a container id 100–999999999 as the key", "%s", quoteShort(key))
			continue
		}
		entry, ok := entries[key].(map[string]any)
		if !ok {
			continue // the schema reports the type
		}
		id, _ := strconv.Atoi(key)
		cfg.Containers[id] = buildContainer(p, path, id, entry)
	}
}

// buildContainer normalises one entry. It tolerates wrong types (the
// schema pass reports them) so that every other problem is still found.
func buildContainer(p problems, path string, id int, e map[string]any) *engine.Container {
	c := &engine.Container{
		CTID:             id,
		Hostname:         str(e["name"]),
		Template:         str(e["template"]),
		StoragePool:      str(e["storage_pool"]),
		Unprivileged:     true,
		GPUAssignment:    "none",
		PortainerRole:    "none",
		TemplateSnapshot: str(e["template_snapshot_name"]),
		Raw:              e,
	}
	c.MemoryMB, _ = intOf(e["memory_mb"])
	c.SwapMB, _ = intOf(e["swap_mb"])
	c.Cores, _ = intOf(e["cores"])
	c.StorageSizeGB, _ = intOf(e["storage_size_gb"])
	if b, ok := e["unprivileged"].(bool); ok {
		c.Unprivileged = b
	}
	if b, ok := e["is_template"].(bool); ok {
		c.IsTemplate = b
	}
	if s := str(e["portainer_role"]); s != "" {
		c.PortainerRole = s
	}
	if g := normaliseGPUs(str(e["gpu_assignment"])); g != "" {
		c.GPUAssignment = g
	}
	c.GPULegacyLXC = str(e["gpu_passthrough"]) == "lxc"
	c.Net = buildNet(e)
	parseFeatures(p, path+"/features", e["features"], c)
	c.CloneFrom = cloneSource(p, path, e)
	_, hasClone := e["clone_from_ctid"]
	_, hasEarlyClone := e["clone_from_template_ctid"]
	if c.CloneFrom == 0 && c.Template == "" && !hasClone && !hasEarlyClone {
		p.errorf(path, `"template" (an OS template to create from) or "clone_from_ctid" (a container to clone)`,
			"neither: add one of them")
	}
	if c.CloneFrom != 0 {
		c.Template = "" // clones are not created from the OS template
	}
	if args, ok := e["hook_args"].([]any); ok {
		c.HookArgs = stringItems(args)
		checkHookArgs(p, path+"/hook_args", args)
	}
	c.HookTimeout = hookTimeout(p, path+"/hook_timeout", e["hook_timeout"])
	applyLater(p, path, e, c)
	c.HookKeepProcesses, _ = e["hook_keep_processes"].(bool)
	return c
}

func buildNet(e map[string]any) *engine.NetConfig {
	nc, ok := e["network_config"].(map[string]any)
	if !ok {
		return nil
	}
	return &engine.NetConfig{
		Name:   str(nc["name"]),
		Bridge: str(nc["bridge"]),
		IP:     str(nc["ip"]),
		GW:     str(nc["gw"]),
		HWAddr: str(e["mac_address"]),
	}
}

// cloneSource reads clone_from_ctid (orchestrator era) or
// clone_from_template_ctid (establish era); both may be string or number.
func cloneSource(p problems, path string, e map[string]any) int {
	later, hasLater := ctidOf(e["clone_from_ctid"])
	early, hasEarly := ctidOf(e["clone_from_template_ctid"])
	switch {
	case hasLater && hasEarly && later != early:
		p.errorf(path+"/clone_from_ctid", fmt.Sprintf("the same source as clone_from_template_ctid (%d), or only one of the two", early),
			"%d", later)
		return later
	case hasLater:
		return later
	case hasEarly:
		return early
	}
	return 0
}

// maxHookTimeout bounds hook_timeout (the schema's maximum, in seconds).
const maxHookTimeout = 7 * 24 * time.Hour

// hookTimeout reads hook_timeout: a Go duration string ("10m") or a
// number of seconds.
func hookTimeout(p problems, path string, v any) time.Duration {
	const expected = `a duration like "90s" or "10m", or a number of seconds, at most a week (168h)`
	switch x := v.(type) {
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil || d <= 0 || d > maxHookTimeout {
			p.errorf(path, expected, "%s", describe(x))
			return 0
		}
		return d
	case float64:
		if x <= 0 || x > maxHookTimeout.Seconds() {
			return 0 // the schema reports it
		}
		return time.Duration(x * float64(time.Second))
	}
	return 0
}

// normaliseGPUs turns "0, 1" into "0,1"; anything else is returned as is
// (the schema pattern reports it).
func normaliseGPUs(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return s
	}
	parts := strings.Split(s, ",")
	for i, part := range parts {
		parts[i] = strings.TrimSpace(part)
	}
	return strings.Join(parts, ",")
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// intOf reads a JSON number that is a whole number.
func intOf(v any) (int, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int(f), true
}

// ctidOf reads a container id given as a number or a string of digits.
func ctidOf(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		n, ok := intOf(x)
		return n, ok && n >= 100 && n <= 999999999
	case string:
		if !ctidKey.MatchString(x) {
			return 0, false
		}
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

func stringItems(vs []any) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
