package hooks

import (
	"context"
	"errors"

	"github.com/phoenix-hypervisor/phoenix/engine"
)

// runLua runs the Lua hook at path for req. Owned by the Lua work; a stub
// until then.
func runLua(ctx context.Context, req engine.HookRequest, path string) error {
	return errors.New("lua hooks: not implemented yet")
}
