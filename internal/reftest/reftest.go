// Package reftest holds what the tests that walk the original system's
// reference configs share.
package reftest

import (
	"encoding/json"
	"fmt"
)

// ClonesInherit returns the LXC config document data with "unprivileged"
// dropped from every clone's entry, so that each clone inherits it from its
// source, as pct clone makes it. The tests that walk every era load v05
// this way: its privileged clones of unprivileged templates (901, 903) are
// a config error (engine/config TestV05PrivilegedClonesOfAnUnprivilegedTemplate),
// while everything else in it is still walked. For every other era it
// changes nothing that loads differently: their clones agree with their
// sources.
func ClonesInherit(data []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reference lxc config: %w", err)
	}
	cts, ok := doc["lxc_configs"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("reference lxc config: no lxc_configs object")
	}
	for id, e := range cts {
		entry, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("reference lxc config: lxc_configs/%s is not an object", id)
		}
		if entry["clone_from_ctid"] != nil || entry["clone_from_template_ctid"] != nil {
			delete(entry, "unprivileged")
		}
	}
	return json.Marshal(doc)
}
