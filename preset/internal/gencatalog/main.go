// Command gencatalog builds preset/catalog.json from the Elastic Transcoder
// system-preset reference (shared/reference/elastic-transcoder-system-presets.json
// in the vidjob workspace).
//
// It keeps every entry, in order, with every reference field as it is, and fills
// only the settings ffmpeg needs that the reference leaves null for a current
// MP4/H.264 preset (its audio, mostly). Each fill adds a sentence to the preset's
// notes saying what was chosen and why, so the catalog stays auditable against
// the reference. Run it with `go generate ./preset`.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	ref := flag.String("ref", "", "path of elastic-transcoder-system-presets.json")
	out := flag.String("out", "catalog.json", "path of the catalog to write")
	flag.Parse()
	if err := run(*ref, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gencatalog:", err)
		os.Exit(1)
	}
}

func run(ref, out string) error {
	if ref == "" {
		return fmt.Errorf("-ref is required")
	}
	in, err := os.ReadFile(ref)
	if err != nil {
		return fmt.Errorf("read reference: %w", err)
	}
	data, err := build(in)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return fmt.Errorf("write catalog: %w", err)
	}
	return nil
}
