package engine

import "time"

// Config is the normalised view of both configuration files. It is built
// once by Load and treated as read-only afterwards; hooks receive copies.
type Config struct {
	// HypervisorFile and LXCFile are the paths the configuration was read
	// from; they are handed to hooks as HYPERVISOR_CONFIG_FILE and
	// LXC_CONFIG_FILE.
	HypervisorFile string
	LXCFile        string

	// Hypervisor and LXC are the decoded JSON documents, unknown fields
	// included, for config.get / config.lxc lookups from hooks.
	Hypervisor map[string]any
	LXC        map[string]any

	// Top-level values of phoenix_lxc_configs.json.
	NvidiaDriverVersion string
	NvidiaRepoURL       string
	NvidiaRunfileURL    string

	// Values of phoenix_hypervisor_config.json that stages use.
	PortainerServerIP    string
	PortainerServerPort  int
	PortainerAgentPort   int
	PortainerServerImage string
	PortainerAgentImage  string

	// Containers keyed by CTID.
	Containers map[int]*Container

	// Warnings found while loading: problems that do not stop a run
	// (duplicate addresses, a dependency on a VM id, ...).
	Warnings []Problem

	// NotApplied are the fields of both files that nothing applies, as
	// warnings "not applied: FIELD (why)" (see Fields). validate, plan
	// and run print them after Warnings.
	NotApplied []Problem

	// SecretFiles are the files the hypervisor config names as holding
	// secrets (core_paths.*token*, secret_paths), as absolute paths. A run
	// reads them at its start and redacts their content from everything
	// it writes.
	SecretFiles []SecretFile
}

// Container is one entry of lxc_configs, normalised across the format
// versions (v04 … v09).
type Container struct {
	CTID          int
	Hostname      string // "name"
	MemoryMB      int
	SwapMB        int // 0: not set
	Cores         int
	Template      string // OS template (create) ; empty for clones
	StoragePool   string
	StorageSizeGB int
	Net           *NetConfig // nil: no network configured
	Unprivileged  bool

	// Features as written: the old "nesting=1,keyctl=1" string is split on
	// commas, the later list is taken as is. PctFeatures holds the
	// key=value entries Proxmox understands (nesting, keyctl, fuse, mknod,
	// mount); Named holds the feature-script names (nvidia, docker, vllm,
	// traefik, ...).
	PctFeatures map[string]string
	Named       []string

	GPUAssignment string // "none", "0", "0,1"
	// GPULegacyLXC selects the raw lxc.cgroup2/lxc.mount.entry lines
	// instead of devN entries for passthrough.
	GPULegacyLXC  bool
	PortainerRole string // "none", "server", "agent"

	IsTemplate       bool
	TemplateSnapshot string // snapshot taken after provisioning; clones use it
	CloneFrom        int    // 0: created from Template
	Dependencies     []int  // other containers that must be done first (LXC only)
	ExternalDeps     []int  // dependencies on ids that are not LXCs in the file (VMs): ordering not enforced

	HookArgs    []string      // nil: ["${PHOENIX_CTID}"]
	HookTimeout time.Duration // 0: the run's --hook-timeout
	// HookKeepProcesses (hook_keep_processes): a real run leaves running
	// what the shell hook started (default: it is ended with the hook).
	HookKeepProcesses bool

	Later // the later-era fields (v07–v09), see later_model.go

	// Raw is the container's entry as decoded, unknown fields included.
	Raw map[string]any
}

// SecretFile is one file holding a secret, and the field naming it.
type SecretFile struct {
	Path string // JSON pointer in the hypervisor config: /core_paths/hf_token_file
	File string
}

// NetConfig is network_config plus mac_address.
type NetConfig struct {
	Name   string // eth0
	Bridge string
	IP     string // CIDR, "dhcp" or "manual"
	GW     string
	HWAddr string
	// Firewall is firewall.enabled: Proxmox filters the interface.
	Firewall bool
}

// HasGPU reports whether the container asks for GPU passthrough.
func (c *Container) HasGPU() bool {
	if c.GPUAssignment != "" && c.GPUAssignment != "none" {
		return true
	}
	return c.HasNamed("nvidia")
}

// HasNamed reports whether the features list names f.
func (c *Container) HasNamed(f string) bool {
	for _, n := range c.Named {
		if n == f {
			return true
		}
	}
	return false
}

// WantsDocker reports whether the Docker stage applies.
func (c *Container) WantsDocker() bool {
	return c.PctFeatures["nesting"] == "1" || c.HasNamed("docker")
}

// Problem is one validation finding.
type Problem struct {
	File     string // path of the file
	Path     string // JSON path (/lxc_configs/901/clone_from_ctid) or "line L, column C"
	Expected string
	Found    string
	Warning  bool
}
