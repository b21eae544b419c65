// Command gendoc writes ERRORS.md from failure.Table.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/flavorflow/flavorflow/failure"
)

func main() {
	out := flag.String("o", "ERRORS.md", "output file")
	flag.Parse()
	if err := os.WriteFile(*out, []byte(failure.Markdown()), 0o644); err != nil {
		log.Fatal(err)
	}
}
