package pve

// RawLine is one `lxc.<key>: <value>` line.
// (Until the conf codec lands here: then this file goes.)
type RawLine struct{ Key, Value string }
