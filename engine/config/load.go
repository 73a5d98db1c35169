package config

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// Load reads, validates and normalises both files. hypervisorFile ""
// means there is none (v04 and v07 ship only the LXC file): defaults
// apply. On invalid input it returns a *ValidationError holding every
// problem (errors and warnings); nothing else is returned then. On
// success, warnings are in cfg.Warnings. A file that cannot be read is a
// plain error (wrapping the fs error) naming the file.
func Load(hypervisorFile, lxcFile string) (*engine.Config, error) {
	var hv []byte
	if hypervisorFile != "" {
		b, err := os.ReadFile(hypervisorFile)
		if err != nil {
			return nil, fmt.Errorf("read hypervisor config: %w (set --hypervisor-config to the file's path)", err)
		}
		hv = b
	}
	lxc, err := os.ReadFile(lxcFile)
	if err != nil {
		return nil, fmt.Errorf("read LXC config: %w (set --lxc-config to the file's path)", err)
	}
	cfg, err := LoadBytes(hypervisorFile, hv, lxcFile, lxc)
	if err != nil {
		return nil, err
	}
	cfg.HypervisorFile = absOrSame(hypervisorFile)
	cfg.LXCFile = absOrSame(lxcFile)
	return cfg, nil
}

// absOrSame makes path absolute: hooks run in the hooks dir and get these
// paths in their environment.
func absOrSame(path string) string {
	if path == "" {
		return ""
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// LoadBytes is Load on in-memory documents (names are used in messages
// and as Config.HypervisorFile / LXCFile); for tests and benchmarks. A
// nil hypervisor document means there is none.
func LoadBytes(hypervisorName string, hypervisor []byte, lxcName string, lxc []byte) (*engine.Config, error) {
	sch, err := compiledSchemas()
	if err != nil {
		return nil, fmt.Errorf("load configuration: embedded schema: %w", err)
	}
	var all []engine.Problem
	cfg := &engine.Config{
		HypervisorFile: hypervisorName,
		LXCFile:        lxcName,
		Hypervisor:     map[string]any{},
		Containers:     map[int]*engine.Container{},
	}

	if hypervisor != nil {
		hp := problems{file: hypervisorName, list: &all}
		if doc, ok := decodeObject(hp, hypervisor); ok {
			validateSchema(hp, sch.hypervisor, doc, nil)
			cfg.Hypervisor = doc
		}
	}
	applyHypervisor(cfg, cfg.Hypervisor)

	lp := problems{file: lxcName, list: &all}
	if doc, ok := decodeObject(lp, lxc); ok {
		cfg.LXC = doc
		reported := detectPreV04(lp, doc)
		validateSchema(lp, sch.lxc, doc, reported)
		applyLXC(lp, cfg, doc)
		crossCheck(lp, cfg)
	}

	sortProblems(all)
	for _, p := range all {
		if !p.Warning {
			return nil, &ValidationError{Problems: all}
		}
	}
	cfg.Warnings = all
	cfg.NotApplied = notApplied(cfg)
	return cfg, nil
}
