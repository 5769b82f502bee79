package preset

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
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

// unreachableStore fails every call, like a database that is down.
type unreachableStore struct{ calls int }

func (s *unreachableStore) CreateAppPreset(context.Context, vidjob.AppPreset, int) error {
	s.calls++
	return vidjob.Errorf(vidjob.EUNAVAILABLE, "down")
}

func (s *unreachableStore) AppPresets(context.Context, string) ([]vidjob.AppPreset, error) {
	s.calls++
	return nil, vidjob.Errorf(vidjob.EUNAVAILABLE, "down")
}

func (s *unreachableStore) DeleteAppPreset(context.Context, string, string) error {
	s.calls++
	return vidjob.Errorf(vidjob.EUNAVAILABLE, "down")
}

// TestLookupForSkipsStore: the application's own presets are read only when
// they could match. A system preset's exact ID is resolved from the embedded
// catalog alone, and so is any name for an application without presets of its
// own (the common submissions cost no query); otherwise a name consults the
// application's presets first, since they take precedence over system names.
func TestLookupForSkipsStore(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	store := &unreachableStore{}
	apps := &AppCatalog{Catalog: cat, Store: store}
	ctx := context.Background()
	withPresets := &vidjob.Application{ID: "app-1", OwnPresets: 2}
	without := &vidjob.Application{ID: "app-2"}

	p, _, err := apps.LookupFor(ctx, withPresets, " 1351620000001-000010 ")
	if err != nil || p.ID != "1351620000001-000010" {
		t.Fatalf("system ID: got %v, %v", p, err)
	}
	if store.calls != 0 {
		t.Fatalf("system ID lookup queried the store %d times", store.calls)
	}
	p, _, err = apps.LookupFor(ctx, without, "System preset generic 720p")
	if err != nil || p.ID != "1351620000001-000010" {
		t.Fatalf("description, application without presets: got %v, %v", p, err)
	}
	if store.calls != 0 {
		t.Fatalf("lookup for an application without presets queried the store %d times", store.calls)
	}
	if _, _, err := apps.LookupFor(ctx, withPresets, "Generic 720p"); vidjob.ErrorCode(err) != vidjob.EUNAVAILABLE || store.calls != 1 {
		t.Fatalf("name lookup: err %v, store calls %d; want the store consulted and its error", err, store.calls)
	}
}
