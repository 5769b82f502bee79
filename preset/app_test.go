package preset

import (
	"regexp"
	"testing"
	"time"
)

// TestNewAppPresetID: ET's custom preset ID form, the creation time in
// milliseconds, and a random part that does not repeat.
func TestNewAppPresetID(t *testing.T) {
	at := time.UnixMilli(1795747867972)
	form := regexp.MustCompile(`^1795747867972-[a-z0-9]{6}$`)
	seen := map[string]bool{}
	chars := map[rune]bool{}
	for range 2000 {
		id := NewAppPresetID(at)
		if !form.MatchString(id) {
			t.Fatalf("ID %q", id)
		}
		if seen[id] {
			t.Fatalf("ID %q given twice", id)
		}
		seen[id] = true
		for _, c := range id[14:] {
			chars[c] = true
		}
	}
	if len(chars) != 36 {
		t.Errorf("%d distinct characters in 12000, want all 36", len(chars))
	}
}
