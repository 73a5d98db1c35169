package fieldref

import (
	"fmt"
	"path/filepath"

	"github.com/phoenix-hypervisor/phoenix/engine/config"
)

// DocPath is the field reference, relative to the repository root.
const DocPath = "docs/config.md"

// RefDir holds the reference configs, relative to the repository root.
const RefDir = "engine/config/testdata/original-configs"

// Generate renders the field reference of the repository at root.
func Generate(root string) ([]byte, error) {
	lxc, hyp, err := config.SchemaJSON()
	if err != nil {
		return nil, err
	}
	eras, err := Eras(filepath.Join(root, RefDir))
	if err != nil {
		return nil, err
	}
	doc, err := Render(lxc, hyp, eras)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", DocPath, err)
	}
	return doc, nil
}
