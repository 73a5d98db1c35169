// Command fake-pct is a stand-in for Proxmox's `pct` in end-to-end tests:
// it keeps a fake host in $FAKE_PCT_STATE and answers as pct does. See
// package engine/fakepct for its exact semantics.
package main

import (
	"os"

	"github.com/phoenix-hypervisor/phoenix/engine/fakepct"
)

func main() {
	os.Exit(fakepct.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
