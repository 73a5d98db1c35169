// Command fake-pct is a stand-in for Proxmox's `pct` in end-to-end tests:
// it keeps a fake host in $FAKE_PCT_STATE and answers as pct does. See
// package internal/fakepct for its exact semantics.
package main

import (
	"os"

	"github.com/phoenix-hypervisor/phoenix/internal/fakepct"
)

func main() {
	os.Exit(fakepct.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
