package e2e

import (
	"encoding/json"
	"testing"
	"time"
)

// TestIdleWorkerStartsAtOnceOnSQLite: with workers polling only every 30 s,
// a job submitted to an idle SQLite server still starts within seconds (5,
// allowing for a machine busy with other tests; ~50 ms when idle). River's SQLite driver carries its insert notifications through a
// table that its listener reads every 50 ms, so a worker does not wait for
// its poll; this keeps that true. Twice: the second time after the first
// job's end, when River has fetched again by itself.
func TestIdleWorkerStartsAtOnceOnSQLite(t *testing.T) {
	srv := startServer(t, "--fetch-poll-interval", "30s")
	media := t.TempDir()
	clip := makeClip(t, media, 1)
	origin := mediaServer(t, media)
	for i := range 2 {
		// Well past River's fetch at start and, the second time, its fetch
		// after the first job finished.
		time.Sleep(time.Second)
		recv := newReceiver(t)
		id := srv.submit(t, localJob(srv.AppID, origin.URL+"/"+clip, recv.URL))
		recv.wait(t, 2*time.Minute)
		_, body := srv.get(t, "/jobs/"+id)
		raw, _ := json.Marshal(body["run"])
		var run jobRun
		if err := json.Unmarshal(raw, &run); err != nil {
			t.Fatalf("run: %v in %s", err, raw)
		}
		wait := phaseMillis(run, "queue_wait")
		if wait < 0 || wait > 5000 {
			t.Errorf("job %d waited %d ms in the queue; an idle worker polling every 30 s should have heard of it", i+1, wait)
		}
		t.Logf("job %d: queue_wait %d ms", i+1, wait)
	}
}
