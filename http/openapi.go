package http

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// openAPI describes every route of Handler; a test walks the router and fails
// when the two disagree.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(openAPI)
}

// The parts of the document that the /docs page shows.
type apiDoc struct {
	Info struct {
		Title       string `json:"title"`
		Description string `json:"description"`
	} `json:"info"`
	Paths map[string]map[string]apiOperation `json:"paths"`
}

type apiOperation struct {
	Tags        []string               `json:"tags"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description"`
	Parameters  []apiParam             `json:"parameters"`
	Security    []map[string][]string  `json:"security"`
	Responses   map[string]apiResponse `json:"responses"`
	RequestBody *struct {
		Content map[string]json.RawMessage `json:"content"`
	} `json:"requestBody"`
}

type apiParam struct {
	Ref         string `json:"$ref"`
	Name        string `json:"name"`
	In          string `json:"in"`
	Required    bool   `json:"required"`
	Description string `json:"description"`
}

type apiResponse struct {
	Description string `json:"description"`
}

// docOperation is one row of the /docs page.
type docOperation struct {
	Method, Path, Summary, Description, Tag string
	Admin                                   bool
	Params                                  []apiParam
	Bodies                                  []string
	Responses                               []docResponse
}

type docResponse struct{ Code, Description string }

// refParams names the shared parameters the document refers to.
var refParams = map[string]apiParam{
	"#/components/parameters/jobID":         {Name: "jobID", In: "path", Required: true, Description: "The job_id returned by POST /job."},
	"#/components/parameters/applicationID": {Name: "application_id", In: "query", Required: true, Description: "Your application ID."},
}

func (s *Server) getDocs(w http.ResponseWriter, r *http.Request) {
	var doc apiDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		s.writeError(w, r, err)
		return
	}
	var ops []docOperation
	for path, methods := range doc.Paths {
		for method, op := range methods {
			d := docOperation{Method: strings.ToUpper(method), Path: path, Summary: op.Summary, Description: op.Description, Admin: len(op.Security) > 0}
			if len(op.Tags) > 0 {
				d.Tag = op.Tags[0]
			}
			for _, p := range op.Parameters {
				if p.Ref != "" {
					p = refParams[p.Ref]
				}
				d.Params = append(d.Params, p)
			}
			if op.RequestBody != nil {
				for ct := range op.RequestBody.Content {
					d.Bodies = append(d.Bodies, ct)
				}
				sort.Strings(d.Bodies)
			}
			for code, resp := range op.Responses {
				d.Responses = append(d.Responses, docResponse{code, resp.Description})
			}
			sort.Slice(d.Responses, func(i, j int) bool { return d.Responses[i].Code < d.Responses[j].Code })
			ops = append(ops, d)
		}
	}
	order := map[string]int{"jobs": 0, "service": 1, "operator": 2}
	sort.Slice(ops, func(i, j int) bool {
		a, b := ops[i], ops[j]
		if order[a.Tag] != order[b.Tag] {
			return order[a.Tag] < order[b.Tag]
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Method < b.Method
	})
	s.render(w, r, http.StatusOK, "docs", struct {
		page
		Description string
		Ops         []docOperation
	}{page{"API", "docs"}, doc.Info.Description, ops})
}
