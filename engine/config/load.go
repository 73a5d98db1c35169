package config

import (
	"fmt"
	"io"
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
	return LoadWith(Options{}, hypervisorFile, lxcFile)
}

// Options change how strictly a configuration is loaded.
type Options struct {
	// Strict makes every unknown key an error (validate --strict,
	// PHOENIX_STRICT=1); without it an unknown key is a warning, unless it
	// is a near miss of a known one.
	Strict bool
}

// LoadWith is Load with options.
func LoadWith(o Options, hypervisorFile, lxcFile string) (*engine.Config, error) {
	var hv []byte
	if hypervisorFile != "" {
		b, err := readConfig(hypervisorFile)
		if err != nil {
			return nil, fmt.Errorf("read hypervisor config: %w (set --hypervisor-config to the file's path)", err)
		}
		hv = b
	}
	lxc, err := readConfig(lxcFile)
	if err != nil {
		return nil, fmt.Errorf("read LXC config: %w (set --lxc-config to the file's path)", err)
	}
	cfg, err := LoadBytesWith(o, hypervisorFile, hv, lxcFile, lxc)
	if err != nil {
		return nil, err
	}
	cfg.HypervisorFile = absOrSame(hypervisorFile)
	cfg.LXCFile = absOrSame(lxcFile)
	return cfg, nil
}

// MaxConfigBytes is the largest configuration file Phoenix reads: the
// largest real one is some 40 KiB, and a file past this is refused before
// it is parsed (or even read whole).
const MaxConfigBytes = 16 << 20

// readConfig reads a configuration file, at most one byte past
// MaxConfigBytes: enough for LoadBytes to refuse it.
func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
}

// decodeDocument is decodeObject after refusing a document past
// MaxConfigBytes.
func decodeDocument(p problems, data []byte) (map[string]any, bool) {
	if len(data) > MaxConfigBytes {
		p.errorf("/", fmt.Sprintf("a configuration file of at most %d MiB", MaxConfigBytes>>20),
			"a larger file: refused before parsing (is it the right file?)")
		return nil, false
	}
	return decodeObject(p, data)
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
	return LoadBytesWith(Options{}, hypervisorName, hypervisor, lxcName, lxc)
}

// LoadBytesWith is LoadBytes with options.
func LoadBytesWith(o Options, hypervisorName string, hypervisor []byte, lxcName string, lxc []byte) (*engine.Config, error) {
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
		if doc, ok := decodeDocument(hp, hypervisor); ok {
			validateSchema(hp, sch.hypervisor, doc, nil)
			if err := checkKeys(hp, hypervisorSchemaFile, doc, o.Strict); err != nil {
				return nil, fmt.Errorf("load configuration: %w", err)
			}
			cfg.Hypervisor = doc
			findSecretFiles(hp, cfg, doc, filepath.Dir(hypervisorName))
		}
	}
	applyHypervisor(cfg, cfg.Hypervisor)

	lp := problems{file: lxcName, list: &all}
	if doc, ok := decodeDocument(lp, lxc); ok {
		cfg.LXC = doc
		reported := detectPreV04(lp, doc)
		// One error per place: where the schema found the value wrong,
		// the Go checks of the same value say nothing more.
		lp.skip = validateSchema(lp, sch.lxc, doc, reported)
		if err := checkKeys(lp, lxcSchemaFile, doc, o.Strict); err != nil {
			return nil, fmt.Errorf("load configuration: %w", err)
		}
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
