// Command gendocs writes docs/config.md, the configuration field
// reference (see package fieldref). Run it from the repository root:
// `make docs`, or `go run ./internal/cmd/gendocs [-o FILE]`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/phoenix-hypervisor/phoenix/internal/fieldref"
)

func main() {
	out := flag.String("o", fieldref.DocPath, "the file to write")
	root := flag.String("root", ".", "the repository root")
	flag.Parse()
	doc, err := fieldref.Generate(*root)
	if err == nil {
		err = os.WriteFile(*out, doc, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
