package engine

import "strings"

// This file is the one table of what Phoenix does with each field of the
// two configuration files: the stage that applies it, whether a change is
// applied to an existing container, and its pct or file form. The types
// and descriptions live in the embedded JSON schema (engine/config); the
// eras come from the reference configs. docs/config.md is generated from
// the three (`make docs`), and config.Load reports every field of a
// loaded file that no stage applies as "not applied: FIELD (why)".

// FieldUse says what Phoenix does with a field.
type FieldUse int

const (
	// Applied: a stage applies the field (Field.Stage).
	Applied FieldUse = iota
	// ForHooks: Phoenix itself does nothing with it; hooks read it
	// (config.container, config.get, their environment).
	ForHooks
	// Meta: a note for editors or people ($schema, version, author).
	Meta
	// HostSetup: a section of the hypervisor file that set up the Proxmox
	// host in the original (ZFS pools, Samba, users, ...): outside
	// Phoenix, which provisions containers; hooks may read it. Reported
	// once per file.
	HostSetup
	// NotApplied: nothing applies it; validate and plan say so.
	NotApplied
)

// Field scopes: where Field.Path starts.
const (
	ScopeLXC        = "lxc"        // top level of phoenix_lxc_configs.json
	ScopeContainer  = "container"  // an entry of lxc_configs (lxc_configs.<CTID>)
	ScopeHypervisor = "hypervisor" // phoenix_hypervisor_config.json
)

// Field is one row of the field reference.
type Field struct {
	Scope string
	// Path is dotted from the scope, "[]" marking an array's items:
	// "network_config.ip", "mount_points[].host_path".
	Path string
	// Subtree: the row covers every field below Path (free-form data for
	// hooks, host set-up sections).
	Subtree bool
	Use     FieldUse
	Stage   string // for Applied: the stage (or "plan" for ordering)
	InPlace string // for Applied: whether a change reaches an existing container, and how
	Form    string // the pct argv or file line it becomes
	Why     string // for ForHooks, HostSetup, NotApplied: the reason, as reported
}

// Reasons shared by several rows.
const (
	whyHookData = "read by the container's hooks and application script (config.container)"
	whyHostData = WhyHostSetup
)

// WhyHostSetup is why the HostSetup fields are not applied.
const WhyHostSetup = "Proxmox host set-up, done by the original's hypervisor scripts: outside Phoenix, which provisions containers; hooks can read it with config.get"

// Fields is the field reference, in document order.
var Fields = []Field{
	// phoenix_lxc_configs.json, top level.
	{Scope: ScopeLXC, Path: "$schema", Use: Meta, Why: "an editor's schema hint"},
	{Scope: ScopeLXC, Path: "nvidia_driver_version", Use: Applied, Stage: StageNvidia, InPlace: "yes: the driver is reinstalled when nvidia-smi reports another version", Form: "NVIDIA-Linux-x86_64-VERSION.run --no-kernel-module in the container; NVIDIA_DRIVER_VERSION for hooks"},
	{Scope: ScopeLXC, Path: "nvidia_repo_url", Use: ForHooks, Why: "NVIDIA_REPO_URL in the hooks' environment"},
	{Scope: ScopeLXC, Path: "nvidia_runfile_url", Use: Applied, Stage: StageNvidia, InPlace: "yes (with the version)", Form: "the driver download URL; NVIDIA_RUNFILE_URL for hooks"},
	{Scope: ScopeLXC, Path: "lxc_configs", Use: Applied, Stage: "plan", InPlace: "—", Form: "one container per CTID key"},

	// One container.
	{Scope: ScopeContainer, Path: "name", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "--hostname NAME"},
	{Scope: ScopeContainer, Path: "memory_mb", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "--memory N"},
	{Scope: ScopeContainer, Path: "swap_mb", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "--swap N"},
	{Scope: ScopeContainer, Path: "cores", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "--cores N"},
	{Scope: ScopeContainer, Path: "template", Use: Applied, Stage: StageCreate, InPlace: "no: only at create", Form: "pct create CTID TEMPLATE"},
	{Scope: ScopeContainer, Path: "storage_pool", Use: Applied, Stage: StageCreate, InPlace: "no: only at create or clone", Form: "--rootfs POOL:SIZE; a clone elsewhere than its source: pct clone --full 1 --storage POOL"},
	{Scope: ScopeContainer, Path: "storage_size_gb", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "larger: yes (pct resize); smaller: no (a disk cannot shrink: destroy and run)", Form: "--rootfs POOL:SIZE; pct resize CTID rootfs NG"},
	{Scope: ScopeContainer, Path: "network_config", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "--net0 name=NAME,bridge=BRIDGE,ip=IP,gw=GW[,hwaddr=MAC]"},
	{Scope: ScopeContainer, Path: "network_config.name", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "net0 name="},
	{Scope: ScopeContainer, Path: "network_config.bridge", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "net0 bridge="},
	{Scope: ScopeContainer, Path: "network_config.ip", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "net0 ip="},
	{Scope: ScopeContainer, Path: "network_config.gw", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "net0 gw="},
	{Scope: ScopeContainer, Path: "network_config.nameservers", Use: Applied, Stage: StageBoot, InPlace: "yes", Form: "--nameserver 'A B'"},
	{Scope: ScopeContainer, Path: "mac_address", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "net0 hwaddr="},
	{Scope: ScopeContainer, Path: "static_ip", Use: NotApplied, Why: "v04/v05 repeated network_config.ip here; network_config.ip is the address applied"},
	{Scope: ScopeContainer, Path: "unprivileged", Use: Applied, Stage: StageCreate, InPlace: "no: Proxmox fixes it at create", Form: "--unprivileged 0|1"},
	{Scope: ScopeContainer, Path: "features", Use: Applied, Stage: StageCreate + ", " + StageConfigure + ", " + StageNvidia + ", " + StageDocker + ", " + StageFeatures, InPlace: "yes", Form: "key=value entries: --features nesting=1,keyctl=1; names: the nvidia and docker stages; others: their feature hook phoenix_hypervisor_feature_install_NAME.lua|.sh (features stage), in the order listed"},
	{Scope: ScopeContainer, Path: "gpu_assignment", Use: Applied, Stage: StageNvidia, InPlace: "yes: missing devices are added, then a restart", Form: "--devN /dev/nvidiaI (and nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset)"},
	{Scope: ScopeContainer, Path: "gpu_passthrough", Use: Applied, Stage: StageNvidia, InPlace: "yes", Form: `"lxc": lxc.cgroup2.devices.allow / lxc.mount.entry lines in /etc/pve/lxc/CTID.conf instead of devN`},
	{Scope: ScopeContainer, Path: "portainer_role", Use: Applied, Stage: StageDocker, InPlace: "yes: the missing Portainer container is started", Form: "docker run portainer (server) or its agent in the container; PORTAINER_ROLE for hooks"},
	{Scope: ScopeContainer, Path: "is_template", Use: Applied, Stage: StageTemplate, InPlace: "yes: a missing snapshot is taken", Form: "pct snapshot CTID NAME"},
	{Scope: ScopeContainer, Path: "template_snapshot_name", Use: Applied, Stage: StageTemplate, InPlace: "yes: a missing snapshot is taken", Form: "pct snapshot CTID NAME; clones use --snapname NAME"},
	{Scope: ScopeContainer, Path: "clone_from_template_ctid", Use: Applied, Stage: StageClone, InPlace: "no: only when the container is made", Form: "pct clone SRC CTID --snapname SNAP --hostname NAME"},
	{Scope: ScopeContainer, Path: "clone_from_ctid", Use: Applied, Stage: StageClone, InPlace: "no: only when the container is made", Form: "pct clone SRC CTID --snapname SNAP --hostname NAME"},
	{Scope: ScopeContainer, Path: "dependencies", Use: Applied, Stage: "plan", InPlace: "—", Form: "ordering: the container waits for these"},
	{Scope: ScopeContainer, Path: "hook_args", Use: Applied, Stage: StageHook, InPlace: "yes: the hook runs again", Form: "the shell hook's argv"},
	{Scope: ScopeContainer, Path: "hook_timeout", Use: Applied, Stage: StageHook, InPlace: "yes", Form: "the hook's time bound"},
	{Scope: ScopeContainer, Path: "hook_keep_processes", Use: Applied, Stage: StageHook, InPlace: "yes", Form: "what the hook leaves running is not ended"},
	{Scope: ScopeContainer, Path: "application_script", Use: Applied, Stage: StageApp, InPlace: "yes: it runs again when it or the container's entry changed", Form: "pushed to /tmp/phoenix_run/ with both config files, then pct exec CTID -- bash /tmp/phoenix_run/SCRIPT; after the feature hooks, before the per-CTID hook"},
	{Scope: ScopeContainer, Path: "start_at_boot", Use: Applied, Stage: StageBoot, InPlace: "yes", Form: "--onboot 0|1"},
	{Scope: ScopeContainer, Path: "boot_order", Use: Applied, Stage: StageBoot, InPlace: "yes", Form: "--startup order=N,up=D"},
	{Scope: ScopeContainer, Path: "boot_delay", Use: Applied, Stage: StageBoot, InPlace: "yes", Form: "--startup order=N,up=D"},
	{Scope: ScopeContainer, Path: "pct_options", Use: Applied, Stage: StageCreate + ", " + StageConfigure, InPlace: "yes", Form: "merged into --features (nesting=1,keyctl=1)"},
	{Scope: ScopeContainer, Path: "lxc_options", Use: Applied, Stage: StageLXCConf, InPlace: "yes: a missing line is added, then a restart; lines are never removed", Form: "lxc.KEY: VALUE lines in /etc/pve/lxc/CTID.conf (key=value and key:value are rewritten, with a warning)"},
	{Scope: ScopeContainer, Path: "apparmor_profile", Use: Applied, Stage: StageLXCConf, InPlace: "yes (as lxc_options)", Form: "lxc.apparmor.profile: PROFILE in /etc/pve/lxc/CTID.conf"},
	{Scope: ScopeContainer, Path: "apparmor_manages_nesting", Use: Applied, Stage: StageLXCConf, InPlace: "yes (as lxc_options)", Form: "lxc.include: /usr/share/lxc/config/nesting.conf and lxc.apparmor.allow_nesting: 1, before the profile line"},
	{Scope: ScopeContainer, Path: "id_maps", Subtree: true, Use: Applied, Stage: StageLXCConf, InPlace: "yes (as lxc_options); files already owned by the old ids are not re-owned", Form: "lxc.idmap: u|g CT HOST SIZE lines, completed with the default map (0 100000 65536) around the mapped ranges"},
	{Scope: ScopeContainer, Path: "mount_points", Subtree: true, Use: Applied, Stage: StageMounts, InPlace: "yes: matched by container path; a changed host path is re-pointed", Form: "host directory made and chowned to 100000+uid (unprivileged); --mpN HOST,mp=CT"},
	{Scope: ScopeContainer, Path: "zfs_volumes", Subtree: true, Use: Applied, Stage: StageMounts, InPlace: "yes: a missing one is added (matched by mount_point, never a second volume)", Form: "--mpN POOL:SIZE,mp=PATH"},
	{Scope: ScopeContainer, Path: "volumes", Subtree: true, Use: Applied, Stage: StageMounts, InPlace: "yes (as zfs_volumes)", Form: "--mpN POOL:SIZE,mp=PATH (the v08 spelling of zfs_volumes)"},
	{Scope: ScopeContainer, Path: "firewall", Subtree: true, Use: Applied, Stage: StageFirewall + ", " + StageCreate + ", " + StageConfigure, InPlace: "yes: the file is rewritten when it differs; [OPTIONS] other than enable and other sections are kept", Form: "/etc/pve/firewall/CTID.fw ([OPTIONS] enable: 1, [RULES] IN ACCEPT -source A -p tcp -dport P # comment) and firewall=1 on net0"},
	{Scope: ScopeContainer, Path: "health_check", Subtree: true, Use: Applied, Stage: StageHealth, InPlace: "yes: it runs on every run", Form: "pct exec CTID -- sh -c COMMAND, up to retries times, interval seconds apart; a COMMAND whose first word is a script under the hooks dir (or under the original's /usr/local/phoenix_hypervisor/bin, which the hooks dir stands for) runs on the host as a legacy shell hook (argv CTID then the command's other words; a plan runs it isolated, once); missing or not executable fails the container"},
	{Scope: ScopeContainer, Path: "health_checks", Subtree: true, Use: Applied, Stage: StageHealth, InPlace: "yes", Form: "the first entry, as health_check"},
	{Scope: ScopeContainer, Path: "enable_lifecycle_snapshots", Use: Applied, Stage: StagePreConfigured + ", " + StageFinalForm, InPlace: "yes: a missing snapshot is taken, never one again", Form: "pct snapshot CTID pre-configured (after start, before the features), pct snapshot CTID final-form (at the end; a template's is template_snapshot_name)"},
	{Scope: ScopeContainer, Path: "tests", Subtree: true, Use: Applied, Stage: "phoenix test, run --with-tests", InPlace: "—", Form: "each integration_tests[] script (path under HOOKS_DIR/tests) pushed to /tmp/phoenix_run/tests/ and run in the container (python3 for .py, else bash); part of run only with --with-tests (after the deployment, for the containers that succeeded)"},
	{Scope: ScopeContainer, Path: "integration_tests", Subtree: true, Use: NotApplied, Why: "the v08 form of tests.integration_tests; nothing runs it"},
	{Scope: ScopeContainer, Path: "run_integration_tests", Use: NotApplied, Why: "the v08 switch for integration_tests; nothing runs them"},
	{Scope: ScopeContainer, Path: "ports", Subtree: true, Use: NotApplied, Why: "a note of the service's published ports; the firewall rules are what opens ports"},
	{Scope: ScopeContainer, Path: "trigger_sync_on_completion", Use: NotApplied, Why: "phoenix-cli's Traefik/Portainer sync after a run has no Phoenix equivalent; a hook can do it"},
	{Scope: ScopeContainer, Path: "bootstrap_ca_url", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "traefik_service", Subtree: true, Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_model", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_model_type", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_tensor_parallel_size", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_gpu_memory_utilization", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_max_model_len", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_port", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_quantization", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_served_model_name", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_trust_remote_code", Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_args", Subtree: true, Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_parameters", Subtree: true, Use: ForHooks, Why: whyHookData},
	{Scope: ScopeContainer, Path: "vllm_engine_config", Subtree: true, Use: ForHooks, Why: whyHookData},

	// phoenix_hypervisor_config.json.
	{Scope: ScopeHypervisor, Path: "$schema", Use: Meta, Why: "an editor's schema hint"},
	{Scope: ScopeHypervisor, Path: "version", Use: Meta, Why: "the file's own version note"},
	{Scope: ScopeHypervisor, Path: "author", Use: Meta, Why: "a note for people"},
	{Scope: ScopeHypervisor, Path: "network", Use: Applied, Stage: StageDocker, InPlace: "yes", Form: "the Portainer fields below"},
	{Scope: ScopeHypervisor, Path: "network.portainer_server_ip", Use: Applied, Stage: StageDocker, InPlace: "yes: agents are pointed at it", Form: "PORTAINER_SERVER_IP for hooks; the agents' server"},
	{Scope: ScopeHypervisor, Path: "network.portainer_server_port", Use: Applied, Stage: StageDocker, InPlace: "yes", Form: "docker run -p PORT:9443 (server)"},
	{Scope: ScopeHypervisor, Path: "network.portainer_agent_port", Use: Applied, Stage: StageDocker, InPlace: "yes", Form: "docker run -p PORT:9001 (agent); PORTAINER_AGENT_PORT for hooks"},
	{Scope: ScopeHypervisor, Path: "network.external_registry_url", Use: ForHooks, Why: "read by hooks (config.get)"},
	{Scope: ScopeHypervisor, Path: "network.default_subnet", Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "network.interfaces", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "network.nfs_server", Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "network.fallback_dns", Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "docker", Use: Applied, Stage: StageDocker, InPlace: "yes", Form: "the images below"},
	{Scope: ScopeHypervisor, Path: "docker.portainer_server_image", Use: Applied, Stage: StageDocker, InPlace: "no: a running Portainer is left as is", Form: "docker run IMAGE (server)"},
	{Scope: ScopeHypervisor, Path: "docker.portainer_agent_image", Use: Applied, Stage: StageDocker, InPlace: "no: a running agent is left as is", Form: "docker run IMAGE (agent)"},
	{Scope: ScopeHypervisor, Path: "core_paths", Subtree: true, Use: ForHooks, Why: "the original's file locations; hooks read them with config.get, and the token files named here are read as secrets (config.secret)"},
	{Scope: ScopeHypervisor, Path: "secret_paths", Use: Applied, Stage: "run", InPlace: "yes", Form: "each file is read at run start and its content redacted from everything Phoenix writes"},
	{Scope: ScopeHypervisor, Path: "behavior", Subtree: true, Use: NotApplied, Why: "the original's switches (debug_mode: use --verbose; rollback_on_failure: Phoenix never rolls back)"},
	{Scope: ScopeHypervisor, Path: "proxmox_defaults", Subtree: true, Use: NotApplied, Why: "defaults for containers: Phoenix requires each container's own name, memory_mb and cores"},
	{Scope: ScopeHypervisor, Path: "shared_volumes", Subtree: true, Use: NotApplied, Form: "--mpN HOST,mp=CT on each listed CTID", Why: "no stage adds these mount points yet"},
	{Scope: ScopeHypervisor, Path: "nvidia_driver", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "step_ca", Subtree: true, Use: ForHooks, Why: "read by hooks (config.get)"},
	{Scope: ScopeHypervisor, Path: "portainer_api", Subtree: true, Use: ForHooks, Why: "read by hooks (config.get)"},
	{Scope: ScopeHypervisor, Path: "domain_name", Use: ForHooks, Why: "read by hooks (config.get)"},
	{Scope: ScopeHypervisor, Path: "timezone", Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "mount_point_base", Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "proxmox_storage_ids", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "zfs", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "samba", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "nfs", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "users", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "dns_server", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "vms", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "vm_defaults", Subtree: true, Use: HostSetup, Why: whyHostData},
	{Scope: ScopeHypervisor, Path: "tests", Subtree: true, Use: HostSetup, Why: whyHostData},
}

// LookupField returns the row that covers path in scope: the row for the
// path itself, the list's row for an item of a list ("features[]" is
// "features"), or the nearest ancestor row marked Subtree. Array items in
// path are written "[]".
func LookupField(scope, path string) (Field, bool) {
	if list, ok := strings.CutSuffix(path, "[]"); ok {
		if f, ok := LookupField(scope, list); ok {
			return f, true
		}
	}
	for p := path; p != ""; p = parentPath(p) {
		for _, f := range Fields {
			if f.Scope == scope && f.Path == p && (p == path || f.Subtree) {
				return f, true
			}
		}
	}
	return Field{}, false
}

// parentPath drops the last segment: "a.b[]" → "a.b", "a.b" → "a".
func parentPath(p string) string {
	if q, ok := strings.CutSuffix(p, "[]"); ok {
		return q
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}
