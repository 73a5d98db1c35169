package fakepct

import "github.com/phoenix-hypervisor/phoenix/internal/hoststate"

// resize serves `pct resize CTID DISK SIZE` (internal/hoststate's rules).
func (f *Fake) resize(c *call) error {
	p, id, err := parseCT(c, "vmid", "disk", "size")
	if err != nil {
		return err
	}
	return f.withHost(func(h *hoststate.Host) error { return h.Resize(id, p.pos[1], p.pos[2]) })
}
