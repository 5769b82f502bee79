package http

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// TestOpenAPIDocumentsEveryRoute walks the real router and the served document:
// a route without documentation, or documentation without a route, fails.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	s := &Server{
		Logger:  slog.New(slog.DiscardHandler),
		Objects: http.NotFoundHandler(),
		Metrics: http.NotFoundHandler(),
	}
	router := s.Handler().(chi.Routes)
	routes := map[string]bool{}
	err := chi.Walk(router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		// chi's catch-all "*" is a path parameter in OpenAPI.
		if strings.HasSuffix(route, "/*") {
			route = strings.TrimSuffix(route, "*") + "{path}"
		}
		routes[strings.ToLower(method)+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, methods := range doc.Paths {
		for method := range methods {
			documented[method+" "+path] = true
		}
	}
	var missing, extra []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routes[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("openapi.json documents routes the server does not have: %v", extra)
	}
	if len(routes) < 15 {
		t.Errorf("walked only %d routes; the walk is broken", len(routes))
	}
	// Every path parameter in a documented path is declared on its operation.
	param := regexp.MustCompile(`\{(\w+)\}`)
	for path, methods := range doc.Paths {
		for method, raw := range methods {
			for _, m := range param.FindAllStringSubmatch(path, -1) {
				if !strings.Contains(string(raw), `"name": "`+m[1]+`"`) && !strings.Contains(string(raw), "parameters/"+m[1]) {
					t.Errorf("%s %s does not declare its path parameter %s", method, path, m[1])
				}
			}
		}
	}
}
