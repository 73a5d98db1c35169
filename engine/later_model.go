package engine

import (
	"time"

	"github.com/phoenix-hypervisor/phoenix/internal/pve"
)

// Later holds a container's later-era fields (v07–v09), normalised by
// config.Load. Zero values mean "not asked for".
type Later struct {
	// MountPoints are bind mounts of host directories (mount_points).
	MountPoints []MountPoint
	// Volumes are new storage volumes (zfs_volumes; v08: volumes).
	Volumes []Volume
	// Boot is start_at_boot, boot_order and boot_delay; nil: none given.
	Boot *Boot
	// Nameservers is network_config.nameservers.
	Nameservers []string
	// LXCLines are the raw lines the container's config must hold, in
	// order: lxc_options (in Proxmox's "key: value" form), the AppArmor
	// lines (apparmor_profile, apparmor_manages_nesting) and the completed
	// id maps (id_maps).
	LXCLines []pve.RawLine
	// IDMaps are the container's complete lxc.idmap ranges; nil when the
	// config maps nothing (Proxmox's default map applies).
	IDMaps []pve.IDMap
	// Firewall is firewall{enabled, rules}; nil: none given.
	Firewall *Firewall
	// ApplicationScript is a file name in the hooks dir.
	ApplicationScript string
	// HealthCheck is health_check (or the first of health_checks[]).
	HealthCheck *HealthCheck
	// LifecycleSnapshots is enable_lifecycle_snapshots.
	LifecycleSnapshots bool
	// Tests are tests.integration_tests[].
	Tests []IntegrationTest
}

// MountPoint is one mount_points entry.
type MountPoint struct {
	HostPath, CTPath string
	// OwnerUID/OwnerGID are the container-side owner of the host
	// directory; nil: not given (left as it is).
	OwnerUID, OwnerGID *int
}

// Volume is one zfs_volumes entry: a new volume POOL:SIZE mounted at Path.
type Volume struct {
	Name   string
	Pool   string
	SizeGB int
	Path   string
}

// Boot is Proxmox's onboot and startup.
type Boot struct {
	OnBoot bool
	Order  *int // nil: not given
	Delay  *int // seconds; nil: not given
}

// Firewall is the container's firewall.
type Firewall struct {
	Enabled bool
	Rules   []pve.FirewallRule
}

// HealthCheck runs Command until it succeeds, at most Retries times,
// Interval apart.
type HealthCheck struct {
	Command  string
	Retries  int
	Interval time.Duration
}

// IntegrationTest is one tests.integration_tests entry.
type IntegrationTest struct {
	Name, Type, Path string
}
