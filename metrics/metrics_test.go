package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/sqlstore"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

// TestScrapeReadsTheDatabaseAndTheWorkersCounts checks both kinds of figure on a
// real SQLite database, and that a database that cannot be read shows as down
// rather than failing the scrape.
func TestScrapeReadsTheDatabaseAndTheWorkersCounts(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.CreateApplication(ctx, &vidjob.Application{ID: "a", Name: "a"})
	now := time.Now()
	db.Now = func() time.Time { return now.Add(-90 * time.Second) }
	db.InsertJob(ctx, nil, &vidjob.Job{ID: "waiting", ApplicationID: "a"})
	db.Now = time.Now

	m := New(db, slog.New(slog.DiscardHandler))
	m.SourceFetched(1000)
	m.OutputStored(400)
	m.Transcoded("1351620000001-000010", 2*time.Second, 10)
	m.WorkFilesSwept("dead_worker", 700)
	m.WorkFilesSwept("dead_worker", 300)
	m.LocalDiskFault("ENOSPC")
	out := scrape(t, m)
	for _, want := range []string{
		`vidjob_jobs{state="queued"} 1`,
		`vidjob_jobs{state="completed"} 0`,
		"vidjob_queue_depth 1",
		"vidjob_source_bytes_fetched_total 1000",
		"vidjob_output_bytes_uploaded_total 400",
		`vidjob_transcode_realtime_factor_sum{preset="1351620000001-000010"} 5`,
		`vidjob_transcode_seconds_bucket{preset="1351620000001-000010",le="2"} 1`,
		`vidjob_transcode_seconds_bucket{preset="1351620000001-000010",le="1"} 0`,
		"vidjob_database_up 1",
		`vidjob_work_dirs_swept_total{reason="dead_worker"} 2`,
		`vidjob_work_bytes_swept_total{reason="dead_worker"} 1000`,
		`vidjob_local_disk_faults_total{error="ENOSPC"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	var age float64
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "vidjob_queue_oldest_age_seconds ") {
			age = parse(t, strings.TrimPrefix(l, "vidjob_queue_oldest_age_seconds "))
		}
	}
	if age < 89 || age > 120 {
		t.Errorf("oldest queued age = %v s, want about 90", age)
	}

	db.Close()
	out = scrape(t, m)
	if !strings.Contains(out, "vidjob_database_up 0\n") || !strings.Contains(out, "vidjob_source_bytes_fetched_total 1000\n") {
		t.Errorf("with the database closed, want database_up 0 and the process's own counts:\n%s", out)
	}
}

func parse(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return f
}
