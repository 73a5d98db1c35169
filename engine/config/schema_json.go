package config

import "fmt"

// SchemaJSON returns the embedded schemas of the LXC file and of the
// hypervisor file, for the field reference (docs/config.md).
func SchemaJSON() (lxc, hypervisor []byte, err error) {
	if lxc, err = schemaFS.ReadFile(lxcSchemaFile); err != nil {
		return nil, nil, fmt.Errorf("read embedded schema %s: %w", lxcSchemaFile, err)
	}
	if hypervisor, err = schemaFS.ReadFile(hypervisorSchemaFile); err != nil {
		return nil, nil, fmt.Errorf("read embedded schema %s: %w", hypervisorSchemaFile, err)
	}
	return lxc, hypervisor, nil
}
