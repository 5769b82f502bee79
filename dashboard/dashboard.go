// Package dashboard holds the operator's web pages: html/template files and the
// small stylesheet and script they use, embedded in the binary so that vidjob
// stays one file with no front-end build.
package dashboard

import (
	"embed"
	"html/template"
	"io/fs"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Parse parses the page templates with the caller's helper functions.
func Parse(funcs template.FuncMap) (*template.Template, error) {
	return template.New("pages").Funcs(funcs).ParseFS(templates, "templates/*.html")
}

// Static returns the stylesheet and script, rooted so that "app.css" is a name.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
