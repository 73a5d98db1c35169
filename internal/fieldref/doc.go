// Package fieldref builds the configuration field reference,
// docs/config.md, from the embedded JSON schemas (types, descriptions),
// engine.Fields (stage, in place, pct or file form) and the reference
// configs (eras). internal/cmd/gendocs writes it; a test keeps the
// committed file in sync.
package fieldref
