package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/dashboard"
	"github.com/vidjob/vidjob/sqlstore"
)

// PresetLister lists the catalog for the dashboard (package preset).
type PresetLister interface {
	All() []*vidjob.Preset
}

var (
	pagesOnce sync.Once
	pages     *template.Template
	pagesErr  error
)

// templates parses the embedded pages once per process; they never change.
func templates() (*template.Template, error) {
	pagesOnce.Do(func() { pages, pagesErr = dashboard.Parse(template.FuncMap{}) })
	return pages, pagesErr
}

// render writes a page; the template runs into a buffer first so that a
// template error becomes a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t, err := templates()
	if err != nil {
		s.writeError(w, r, fmt.Errorf("parse templates: %w", err))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		s.writeError(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	// Scripts and styles only from this server; media may come from the object
	// store, wherever it is.
	h.Set("Content-Security-Policy", "default-src 'self'; media-src *; img-src * data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) getStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	http.StripPrefix("/ui/static/", http.FileServerFS(dashboard.Static())).ServeHTTP(w, r)
}

// page is what every page's layout reads.
type page struct {
	Title string
	Nav   string
}

// jobRow is one row of the jobs table.
type jobRow struct {
	jobSummary
	AppName string
	Percent int
}

func percent(progress float64, state string) int {
	if state == string(vidjob.StateCompleted) {
		return 100
	}
	return int(max(0, min(progress, 1)) * 100)
}

func (s *Server) appNames(r *http.Request) ([]vidjob.Application, map[string]string, error) {
	apps, err := s.Lists.ListApplications(r.Context())
	if err != nil {
		return nil, nil, err
	}
	names := make(map[string]string, len(apps))
	for _, a := range apps {
		names[a.ID] = a.Name
	}
	return apps, names, nil
}

var allStates = []string{"queued", "fetching", "transcoding", "uploading", "completed", "failed"}

func (s *Server) pageJobs(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		s.writeError(w, r, vidjob.Errorf(vidjob.ENOTFOUND, "No such page."))
		return
	}
	q := r.URL.Query()
	state, err := parseState(q.Get("status"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	appID := q.Get("application_id")
	apps, names, err := s.appNames(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	since := time.Now()
	jobs, err := s.Lists.ListJobs(r.Context(), sqlstore.JobFilter{ApplicationID: appID, State: state, Limit: 100})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rows := make([]jobRow, 0, len(jobs))
	for _, j := range jobs {
		sum := summarize(j)
		rows = append(rows, jobRow{jobSummary: sum, AppName: names[j.ApplicationID], Percent: percent(j.Progress, sum.State)})
	}
	s.render(w, r, http.StatusOK, "jobs", struct {
		page
		States   []string
		Status   string
		Apps     []vidjob.Application
		AppID    string
		AppNames map[string]string
		Jobs     []jobRow
		Since    int64
	}{page{"Jobs", "jobs"}, allStates, string(state), apps, appID, names, rows, since.UnixMilli()})
}

// metaRow is one line of the metadata table: a field of the source and of the
// output side by side.
type metaRow struct {
	Key            string
	Source, Output string
	Differs        bool
}

func metaValue(m vidjob.Meta, k string) (string, bool) {
	v, ok := m[k]
	if !ok {
		return "", false
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	b, _ := json.Marshal(v)
	return string(b), true
}

// metaRows joins the source's and the output's metadata on their field names.
func metaRows(src, out vidjob.Meta) []metaRow {
	keys := map[string]bool{}
	for k := range src {
		keys[k] = true
	}
	for k := range out {
		keys[k] = true
	}
	rows := make([]metaRow, 0, len(keys))
	for k := range keys {
		a, _ := metaValue(src, k)
		b, _ := metaValue(out, k)
		rows = append(rows, metaRow{Key: k, Source: a, Output: b, Differs: a != b})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return rows
}

type jobPage struct {
	jobStatus
	AppName         string
	Percent         int
	Done            bool
	PresetID        string
	PresetName      string
	VideoIdentifier string
	Src             string
	Bucket, Key     string
	OutputURL       string
	Container       string
	// Player is how the page shows the output: "video", "audio", "image",
	// "hls" (a player only where the browser plays HLS natively) or "" (a link).
	Player      string
	ContentType string
	Errors      []string
	Meta        []metaRow
	// Commands are the run's commands as shell lines, to copy and rerun.
	Commands []commandRow
	Postback *struct {
		URL      string
		State    string
		Attempts []attemptView
	}
}

// commandRow is one command of a job's run on its page.
type commandRow struct {
	vidjob.Command
	Line string
}

// shellLine writes a command as a POSIX shell line, quoting what the shell
// would otherwise interpret, so that the operator can paste it.
func shellLine(program string, args []string) string {
	words := make([]string, 0, len(args)+1)
	for _, a := range append([]string{program}, args...) {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=+,%@") == "" {
			words = append(words, a)
			continue
		}
		words = append(words, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return strings.Join(words, " ")
}

func (s *Server) pageJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	since := time.Now()
	job, err := s.Store.FindJob(ctx, chi.URLParam(r, "jobID"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	_, names, err := s.appNames(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := jobPage{
		AppName: names[job.ApplicationID], Percent: percent(job.Progress, string(job.State)), Done: job.State.Done(),
		PresetID: job.Request.Transcode.PresetID, VideoIdentifier: job.Request.Transcode.VideoIdentifier,
		Src: job.Request.Src, Bucket: job.Request.Transcode.Destination.Bucket, Key: job.Request.Transcode.Destination.Key,
	}
	p.JobID, p.ApplicationID, p.State = job.ID, job.ApplicationID, string(job.State)
	p.CreatedAt, p.UpdatedAt = job.CreatedAt.UTC(), job.UpdatedAt.UTC()
	if job.Run != nil {
		p.Run = job.Run
		for _, c := range job.Run.Commands {
			p.Commands = append(p.Commands, commandRow{Command: c, Line: shellLine(c.Program, c.Args)})
		}
	}
	if app, err := s.Store.FindApplication(r.Context(), job.ApplicationID); err == nil {
		if preset, err := s.lookupPreset(r.Context(), app, job.Request.Transcode.PresetID); err == nil {
			p.PresetName, p.Container = preset.Name, preset.Container
		}
	}
	if res := job.Result; res != nil {
		p.Errors = res.Errors
		var outMeta vidjob.Meta
		if v := res.Video; v != nil {
			p.OutputURL, outMeta = v.S3URL, v.Meta
			if v.PresetID != "" {
				p.PresetID = v.PresetID
			}
		}
		if len(res.OriginalMeta) > 0 || len(outMeta) > 0 {
			p.Meta = metaRows(res.OriginalMeta, outMeta)
		}
	}
	switch c := strings.ToLower(p.Container); c {
	case "mp4", "webm":
		p.Player = "video"
	case "mp3", "flac", "wav", "oga", "ogg":
		p.Player = "audio"
	case "gif":
		p.Player = "image"
	case "ts":
		p.Player, p.ContentType = "hls", vidjob.ContainerContentType(c)
	}
	charge, postback, err := s.chargeAndPostback(ctx, job)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p.Charge = charge
	if postback != nil {
		p.Postback = &struct {
			URL      string
			State    string
			Attempts []attemptView
		}{URL: job.Request.PostbackURL, State: postback.State, Attempts: postback.Attempts}
	}
	s.render(w, r, http.StatusOK, "job", struct {
		page
		Job   jobPage
		Since int64
	}{page{"Job " + job.ID, "jobs"}, p, since.UnixMilli()})
}

// chartBar is one day's bar in the usage chart, in SVG user units.
type chartBar struct {
	X, Y, W, H float64
	Label      string
	Minutes    int64
	Amount     string
}

type usageChart struct {
	Width, Height, Base float64
	Bars                []chartBar
	Max                 int64
	// AmountLine is the polyline of the amount per day, scaled to its own
	// maximum (the price per minute may change over time).
	AmountLine  string
	MaxAmount   string
	First, Last string
}

func (s *Server) pageUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	apps, _, err := s.appNames(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	appID := q.Get("application_id")
	if appID == "" && len(apps) > 0 {
		appID = apps[0].ID
	}
	days := 30
	if v, err := strconv.Atoi(q.Get("days")); err == nil && (v == 7 || v == 30 || v == 90 || v == 365) {
		days = v
	}
	data := struct {
		page
		Apps                    []vidjob.Application
		AppID                   string
		Days                    int
		DayChoices              []int
		Rows                    []sqlstore.DayUsage
		TotalJobs, TotalMinutes int64
		TotalAmount             string
		Chart                   usageChart
	}{page: page{"Usage", "usage"}, Apps: apps, AppID: appID, Days: days, DayChoices: []int{7, 30, 90, 365}}
	if appID != "" {
		today := time.Now().UTC().Truncate(24 * time.Hour)
		from := today.AddDate(0, 0, -(days - 1))
		rows, err := s.Lists.DailyUsage(r.Context(), appID, from, today.AddDate(0, 0, 1))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		data.Rows = rows
		var amount vidjob.Micros
		byDay := map[string]sqlstore.DayUsage{}
		for _, d := range rows {
			data.TotalJobs += d.Jobs
			data.TotalMinutes += d.Minutes
			amount += d.Amount
			data.Chart.Max = max(data.Chart.Max, d.Minutes)
			byDay[d.Day.Format("2006-01-02")] = d
		}
		data.TotalAmount = amount.String()
		c := &data.Chart
		c.Width, c.Height, c.Base = float64(days*10), 100, 99
		c.First, c.Last = from.Format("2006-01-02"), today.Format("2006-01-02")
		var maxAmount vidjob.Micros
		for _, d := range rows {
			maxAmount = max(maxAmount, d.Amount)
		}
		c.MaxAmount = maxAmount.String()
		var line []string
		for i := 0; i < days; i++ {
			day := from.AddDate(0, 0, i).Format("2006-01-02")
			d := byDay[day]
			h := 0.0
			if c.Max > 0 {
				h = float64(d.Minutes) / float64(c.Max) * 96
			}
			c.Bars = append(c.Bars, chartBar{X: float64(i*10) + 1, Y: c.Base - h, W: 8, H: h, Label: day, Minutes: d.Minutes, Amount: d.Amount.String()})
			y := c.Base
			if maxAmount > 0 {
				y -= float64(d.Amount) / float64(maxAmount) * 96
			}
			line = append(line, fmt.Sprintf("%d,%.1f", i*10+5, y))
		}
		c.AmountLine = strings.Join(line, " ")
	}
	s.render(w, r, http.StatusOK, "usage", data)
}

func (s *Server) pagePresets(w http.ResponseWriter, r *http.Request) {
	var all []*vidjob.Preset
	if s.Presets != nil {
		all = s.Presets.All()
	}
	s.render(w, r, http.StatusOK, "presets", struct {
		page
		Presets []*vidjob.Preset
	}{page{"Presets", "presets"}, all})
}
