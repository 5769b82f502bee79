package http

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// sessionCookie holds the dashboard login: a MAC of a fixed label under the admin
// token, so that the token itself never sits in the browser's cookie jar and a
// new token logs every browser out.
const sessionCookie = "vidjob_session"

func (s *Server) sessionValue() string {
	m := hmac.New(sha256.New, []byte(s.AdminToken))
	m.Write([]byte("vidjob dashboard session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// isAdmin reports whether the request carries the admin token (as a bearer
// token, for scrapers and scripts) or the dashboard's session cookie.
func (s *Server) isAdmin(r *http.Request) bool {
	if s.AdminToken == "" {
		return false
	}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		got := strings.TrimPrefix(auth, "Bearer ")
		return subtle.ConstantTimeCompare([]byte(got), []byte(s.AdminToken)) == 1
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.sessionValue())) == 1
	}
	return false
}

// requireAdmin lets the operator through; others are sent to the login page
// (browsers) or refused with 401 (everything else).
func (s *Server) requireAdmin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.isAdmin(r) {
			w.Header().Set("Cache-Control", "no-store")
			next(w, r)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="vidjob"`)
		http.Error(w, "The admin token is required: log in at /login or send Authorization: Bearer <token>.", http.StatusUnauthorized)
	}
}

// mountOperator adds the operator's routes: the dashboard, its live feed, its
// static files and /metrics, all behind the admin token.
func (s *Server) mountOperator(r chi.Router) {
	r.Get("/login", s.getLogin)
	r.Post("/login", s.postLogin)
	r.Post("/logout", s.postLogout)
	r.Get("/ui/static/*", s.getStatic)
	r.Get("/", s.requireAdmin(s.pageJobs))
	r.Get("/ui/jobs/{jobID}", s.requireAdmin(s.pageJob))
	r.Get("/ui/usage", s.requireAdmin(s.pageUsage))
	r.Get("/ui/presets", s.requireAdmin(s.pagePresets))
	r.Get("/ui/events", s.requireAdmin(s.getEvents))
	if s.Metrics != nil {
		r.Get("/metrics", s.requireAdmin(s.Metrics.ServeHTTP))
	}
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Server) getLogin(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) postLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Bad login form.", http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if s.AdminToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.AdminToken)) != 1 {
		// A token has 192 random bits; the pause only keeps logs quiet.
		time.Sleep(500 * time.Millisecond)
		s.render(w, r, http.StatusUnauthorized, "login", map[string]any{"Next": next, "Error": "That is not the admin token."})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.sessionValue(), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
		MaxAge: int((30 * 24 * time.Hour).Seconds()),
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) postLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
