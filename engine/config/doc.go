// Package config loads, validates and normalises Phoenix's two
// configuration files, phoenix_hypervisor_config.json and
// phoenix_lxc_configs.json, into an engine.Config.
//
// Every format version from v04 to v09 of the original bash system is
// understood (establish-era and orchestrator-era fields alike); v01–v03 are
// refused with a problem naming each unsupported field. Validation runs in
// three passes over the decoded documents and collects every problem
// instead of stopping at the first: pre-v04 detection, an embedded JSON
// Schema (draft 2020-12) for the union of the formats, and cross-field
// checks (CTIDs, clone sources, dependencies, cycles, addresses,
// hostnames, duplicates).
//
// The decoded documents (Config.Hypervisor, Config.LXC, Container.Raw)
// hold what encoding/json produces for an `any`: map[string]any, []any,
// string, bool, nil and float64 for every number. They are shared, so
// treat them as read-only.
package config
