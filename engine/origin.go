package engine

import "context"

// Origin says who asked for a backend call: a built-in stage or a hook at
// a given line. The dry-run backend and the run log attach it to every
// recorded action, so the plan can say "hook phoenix_hypervisor_setup_950.lua:12".
type Origin struct {
	CTID   int
	Stage  string // create, clone, configure, start, nvidia, docker, hook, template
	Source string // "" for built-in stages; "file.lua:12" or "file.sh" for hooks
}

type originKey struct{}

// WithOrigin returns ctx carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin carried by ctx, if any.
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}
