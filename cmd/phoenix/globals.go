package main

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/phoenix-hypervisor/phoenix/engine"
	"github.com/phoenix-hypervisor/phoenix/engine/lock"
)

// Defaults of the global options: the original system's layout, which
// legacy hooks read directly.
const (
	defaultHypervisorConfig = "/usr/local/phoenix_hypervisor/etc/phoenix_hypervisor_config.json"
	defaultLXCConfig        = "/usr/local/phoenix_hypervisor/etc/phoenix_lxc_configs.json"
	defaultHooksDir         = engine.OriginalHooksDir
	defaultLogFile          = "/var/log/phoenix_hypervisor.log"
	defaultBackend          = "pct"
	defaultHookTimeout      = 30 * time.Minute
)

// globalSpec is one global option: its flag, environment variable and
// default. Flags win over the environment, the environment over defaults.
type globalSpec struct {
	name, env, def, usage string
}

var globalSpecs = []globalSpec{
	{"hypervisor-config", "PHOENIX_HYPERVISOR_CONFIG", defaultHypervisorConfig, "phoenix_hypervisor_config.json `FILE` (optional when left at its default)"},
	{"lxc-config", "PHOENIX_LXC_CONFIG", defaultLXCConfig, "phoenix_lxc_configs.json `FILE`"},
	{"hooks-dir", "PHOENIX_HOOKS_DIR", defaultHooksDir, "`DIR` holding phoenix_hypervisor_setup_<CTID>.lua|.sh"},
	{"log-file", "PHOENIX_LOG_FILE", defaultLogFile, "append the run log to `FILE`"},
	{"backend", "PHOENIX_BACKEND", defaultBackend, "`BACKEND`: pct (Proxmox VE) or lxc (plain LXC, no Proxmox)"},
	{"lock-file", "PHOENIX_LOCK_FILE", lock.DefaultPath, "one run at a time: the lock `FILE`"},
	{"lxc-path", "PHOENIX_LXC_PATH", "", "`DIR` of the lxc backend's containers (default /var/lib/lxc)"},
	{"pve-dir", "PHOENIX_PVE_DIR", "", "the Proxmox config root `DIR` Phoenix writes raw lxc lines and firewall files under (default /etc/pve)"},
	{"host-root", "PHOENIX_HOST_ROOT", "", "the `DIR` under which mount points' host directories are made (default /): with the fake pct, a temp dir, or a run makes them on this machine"},
}

// globalFlags are the global options. They are accepted before the
// command and after it (phoenix --lxc-config X run, phoenix run --lxc-config X).
// Environment variables are read by resolveGlobals through Env, not by
// urfave/cli, so in-process tests control them.
func globalFlags() []cli.Flag {
	fs := make([]cli.Flag, 0, len(globalSpecs)+1)
	for _, g := range globalSpecs {
		fs = append(fs, &cli.StringFlag{
			Name:        g.name,
			Usage:       g.usage + " [$" + g.env + "]",
			DefaultText: g.def,
			Category:    "global",
		})
	}
	return append(fs, &cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show debug events; hooks get PHOENIX_DEBUG=true", Category: "global"})
}

// withGlobals adds fresh copies of the global flags to a command's own
// (urfave/cli flags keep state, so each command needs its own instances).
func withGlobals(own []cli.Flag) []cli.Flag { return append(own, globalFlags()...) }

// globals are the resolved global options.
type globals struct {
	HypervisorConfig string
	// HypervisorExplicit: given by flag or environment, so it must exist.
	HypervisorExplicit bool
	LXCConfig          string
	HooksDir           string
	LogFile            string
	Backend            string
	LockFile           string
	LXCPath            string
	PVEDir             string
	HostRoot           string // prepended to mount points' host directories
	Verbose            bool
	// Strict: the --strict of validate, run and plan, or PHOENIX_STRICT=1:
	// unknown configuration keys are errors (and, in a run, a feature
	// nothing handles fails its container).
	Strict bool
}

const strictEnv = "PHOENIX_STRICT"

// lookupFlag finds a flag set on the command line at any level of c's
// lineage, the innermost first.
func lookupFlag(c *cli.Context, name string) (*cli.Context, bool) {
	for _, cc := range c.Lineage() {
		if cc.Command == nil && cc.App == nil {
			continue
		}
		if slices.Contains(cc.LocalFlagNames(), name) {
			return cc, true
		}
	}
	return nil, false
}

func resolveGlobals(c *cli.Context, env Env) (globals, error) {
	vals := map[string]string{}
	explicit := map[string]bool{}
	for _, g := range globalSpecs {
		if cc, ok := lookupFlag(c, g.name); ok {
			vals[g.name], explicit[g.name] = cc.String(g.name), true
		} else if v := env.Getenv(g.env); v != "" {
			vals[g.name], explicit[g.name] = v, true
		} else {
			vals[g.name] = g.def
		}
	}
	_, verbose := lookupFlag(c, "verbose")
	if !verbose {
		_, verbose = lookupFlag(c, "v")
	}
	strict := false
	if cc, ok := lookupFlag(c, "strict"); ok {
		strict = cc.Bool("strict")
	} else if v := env.Getenv(strictEnv); v != "" {
		switch v {
		case "1", "true", "yes":
			strict = true
		case "0", "false", "no":
		default:
			return globals{}, usageError("%s=%q: expected 1 or 0", strictEnv, v)
		}
	}
	g := globals{
		HypervisorConfig:   vals["hypervisor-config"],
		HypervisorExplicit: explicit["hypervisor-config"],
		LXCConfig:          vals["lxc-config"],
		HooksDir:           vals["hooks-dir"],
		LogFile:            vals["log-file"],
		Backend:            vals["backend"],
		LockFile:           vals["lock-file"],
		LXCPath:            vals["lxc-path"],
		PVEDir:             vals["pve-dir"],
		HostRoot:           vals["host-root"],
		Verbose:            verbose,
		Strict:             strict,
	}
	if g.Backend != "pct" && g.Backend != "lxc" {
		return g, usageError("--backend %q: expected pct or lxc", g.Backend)
	}
	return g, nil
}

// hypervisorFile is the hypervisor config to load: "" when it is left at
// its default and absent (v04 and v07 ship only the LXC file), with a
// warning; an explicit path that does not exist is an error.
func (g globals) hypervisorFile() (file, warning string, err error) {
	if _, statErr := os.Stat(g.HypervisorConfig); statErr != nil {
		if g.HypervisorExplicit {
			return "", "", usageError("hypervisor config %s: %v: check --hypervisor-config / PHOENIX_HYPERVISOR_CONFIG", g.HypervisorConfig, statErr)
		}
		return "", fmt.Sprintf("no hypervisor config at %s: using defaults (pass --hypervisor-config FILE to use one)", g.HypervisorConfig), nil
	}
	return g.HypervisorConfig, "", nil
}

func (g globals) hooksDirExists() bool {
	fi, err := os.Stat(g.HooksDir)
	return err == nil && fi.IsDir()
}

// hooksDirWarning says when the hooks dir does not exist: every container
// then reads as having no hook, which is rarely what was meant.
func (g globals) hooksDirWarning() string {
	if !g.hooksDirExists() {
		return fmt.Sprintf("warning: hooks dir %s is not a directory: no container has a hook (set --hooks-dir or PHOENIX_HOOKS_DIR)", g.HooksDir)
	}
	return ""
}
