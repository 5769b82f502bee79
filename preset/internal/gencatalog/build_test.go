package main

import (
	"bytes"
	"os"
	"testing"
)

// referencePath is where the vidjob workspace keeps the ET reference, relative to
// this package; the repository does not carry a copy.
const referencePath = "../../../../shared/reference/elastic-transcoder-system-presets.json"

// TestCatalogIsUpToDate fails when preset/catalog.json was edited by hand or the
// fills changed without regenerating it.
func TestCatalogIsUpToDate(t *testing.T) {
	ref, err := os.ReadFile(referencePath)
	if os.IsNotExist(err) {
		t.Skip("reference not present in this checkout:", referencePath)
	}
	if err != nil {
		t.Fatal(err)
	}
	want, err := build(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("preset/catalog.json differs from what gencatalog builds; run `go generate ./preset`")
	}
}

func TestFillRefusesToOverwriteReferenceData(t *testing.T) {
	ref := []byte(`[{"id":"1351620000001-000030","status":"current","container":"mp4",
		"video":{"codec":"H.264"},"audio":{"codec":"AAC","bitrate_kbps":"96"},"notes":[]}]`)
	if _, err := build(ref); err == nil {
		t.Fatal("build overwrote a bit rate the reference has")
	}
}
