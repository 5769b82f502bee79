package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vidjob/vidjob/internal/testmedia"
)

// artifacts is where the browser test leaves its screenshots (gitignored).
const artifacts = "../test-artifacts"

// chromium finds the headless browser that scripts/install-browser.sh installs
// (make test runs it). A missing browser fails the test: it is never skipped.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("VIDJOB_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	t.Fatal("no Chromium found: run scripts/install-browser.sh (make test does) or set VIDJOB_CHROMIUM")
	return ""
}

// TestDashboardFollowsAJobAndPlaysItsOutput is the operator's story in a real
// browser: log in with the admin token, watch a job submitted after the page
// loaded appear and reach 100% without a reload, open its page and play the
// first second of the output.
func TestDashboardFollowsAJobAndPlaysItsOutput(t *testing.T) {
	browser := chromium(t)
	srv := startServer(t, "--admin-token", adminToken)
	dir := t.TempDir()
	testmedia.Make(t, dir, testmedia.Spec{Seconds: 4, Width: 640, Height: 360})
	entries, _ := os.ReadDir(dir)
	media := mediaServer(t, dir)
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // the test may run as root in a container
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// The dashboard is closed without the token.
	run("open the dashboard", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	loc := get(t, ctx, "location", chromedp.Location())
	if !strings.Contains(loc, "/login") {
		t.Fatalf("without the token the dashboard is at %s, want the login page", loc)
	}
	run("log in", chromedp.SendKeys(chromedp.CSS("#token"), adminToken), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#jobs")))

	// Watch the table: a marker that a reload would lose, and every state and
	// percentage the rows show.
	get(t, ctx, "watch the table", chromedp.Evaluate[bool](`
		window.__marker = 42;
		window.__seen = [];
		new MutationObserver(() => {
			for (const tr of document.querySelectorAll('#jobs tbody tr')) {
				const s = tr.querySelector('.state').textContent + ' ' + tr.querySelector('.pct').textContent;
				if (window.__seen[window.__seen.length - 1] !== s) window.__seen.push(s);
			}
		}).observe(document.getElementById('jobs'), {subtree: true, childList: true, characterData: true});
		true`))
	// Wait until the live feed is connected, so that the job's first states are seen.
	run("live feed", chromedp.WaitVisible(chromedp.CSS(".live.on")))

	job := strings.NewReplacer("APP_ID", srv.AppID, "SRC", media.URL+"/"+entries[0].Name()).Replace(`{
		"application_id": "APP_ID", "src": "SRC", "src_type": "pre_process_only", "v": 1.22,
		"pre_process": {"transcode": {"preset_id": "System preset: Generic 360p 16:9", "video_identifier": "browser",
			"s3_destination": {"bucket": "dash", "key": "browser/out.mp4"}}}}`)
	id := srv.submit(t, job)
	row := fmt.Sprintf(`#jobs tr[data-job-id=%q]`, id)
	start := time.Now()
	get(t, ctx, "progress reaches 100%", chromedp.Poll[bool](fmt.Sprintf(`(() => {
		const tr = document.querySelector(%q);
		return !!tr && tr.querySelector('.state').textContent === 'completed' && tr.querySelector('.pct').textContent === '100%%';
	})()`, row), chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	t.Logf("the row showed completed 100%% %.1fs after submission", time.Since(start).Seconds())
	marker := get(t, ctx, "marker", chromedp.Evaluate[int](`window.__marker`))
	seen := get(t, ctx, "states seen", chromedp.Evaluate[[]string](`window.__seen`))
	t.Logf("states the row showed: %v", seen)
	if marker != 42 {
		t.Errorf("the page reloaded (marker %d); updates must be live", marker)
	}
	if len(seen) < 2 || !strings.HasPrefix(seen[len(seen)-1], "completed 100%") {
		t.Errorf("the row showed %v; want at least one state before 'completed 100%%'", seen)
	}
	jobsShot := get(t, ctx, "screenshot the jobs page", chromedp.FullScreenshot(100))
	os.WriteFile(filepath.Join(artifacts, "dashboard-jobs.png"), jobsShot, 0o644)

	// The job's page: metadata, charge and a player that plays.
	run("open the job page", chromedp.Click(chromedp.CSS(row+" a")), chromedp.WaitVisible(chromedp.CSS("#player")))
	type playReport struct {
		Playing bool    `json:"playing"`
		Time    float64 `json:"time"`
		Width   int     `json:"width"`
		Height  int     `json:"height"`
	}
	played := get(t, ctx, "play the first second", chromedp.Evaluate[playReport](`new Promise((resolve, reject) => {
		const v = document.getElementById('player');
		let playing = false;
		v.addEventListener('playing', () => { playing = true; });
		v.muted = true;
		v.play().catch(e => reject('play() refused: ' + e));
		const t0 = Date.now();
		const iv = setInterval(() => {
			if (v.currentTime >= 1) {
				clearInterval(iv);
				v.pause();
				resolve({playing: playing, time: v.currentTime, width: v.videoWidth, height: v.videoHeight});
			} else if (Date.now() - t0 > 30000) {
				clearInterval(iv);
				reject('currentTime stuck at ' + v.currentTime + ', media error ' + (v.error && v.error.code));
			}
		}, 50);
	})`, chromedp.EvalAwaitPromise))
	if !played.Playing || played.Time < 1 || played.Width != 640 || played.Height != 360 {
		t.Errorf("video element reports %+v; want a 'playing' event, currentTime ≥ 1 s and 640x360", played)
	}
	type pageText struct {
		Charge string `json:"charge"`
		Meta   int    `json:"meta"`
	}
	texts := get(t, ctx, "read the job page", chromedp.Evaluate[pageText](`({
		charge: [...document.querySelectorAll('h2')].find(h => h.textContent === 'Charge').parentElement.textContent,
		meta: document.querySelectorAll('table.meta tbody tr').length,
	})`))
	if !strings.Contains(texts.Charge, "$0.0389") || texts.Meta < 20 {
		t.Errorf("job page shows charge %q and %d metadata rows; want $0.0389 and both sides' metadata", strings.TrimSpace(texts.Charge), texts.Meta)
	}
	get(t, ctx, "seek", chromedp.Evaluate[bool](`document.getElementById('player').currentTime = 1; true`))
	run("wait for the frame", chromedp.Sleep(300*time.Millisecond))
	jobShot := get(t, ctx, "screenshot the job page", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(artifacts, "dashboard.png"), jobShot, 0o644); err != nil {
		t.Fatal(err)
	}

	// The status filter applies on change, through the page's own script.
	run("filter by status", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#jobs")))
	get(t, ctx, "choose failed", chromedp.Evaluate[bool](`(() => {
		const s = document.querySelector('select[name=status]');
		s.value = 'failed';
		s.dispatchEvent(new Event('change'));
		return true;
	})()`))
	run("filtered page", chromedp.WaitVisible(chromedp.CSS("#empty")))
	if loc := get(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "status=failed") {
		t.Errorf("after choosing 'failed' the page is %s", loc)
	}
	if n := get(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll('#jobs tbody tr').length`)); n != 0 {
		t.Errorf("filtered by failed, the table shows %d rows", n)
	}

	// The usage page charts the minute; at phone width nothing overflows.
	run("usage page", chromedp.Navigate(srv.URL+"/ui/usage"), chromedp.WaitVisible(chromedp.CSS("svg")))
	bars := get(t, ctx, "usage bars", chromedp.Evaluate[int](`[...document.querySelectorAll('rect.barrect')].filter(r => parseFloat(r.getAttribute('height')) > 0).length`))
	if bars != 1 {
		t.Errorf("usage chart has %d non-empty bars, want 1 (today)", bars)
	}
	usageShot := get(t, ctx, "screenshot the usage page", chromedp.FullScreenshot(100))
	os.WriteFile(filepath.Join(artifacts, "dashboard-usage.png"), usageShot, 0o644)
	for _, page := range []struct{ path, file string }{{"/", "dashboard-phone.png"}, {"/ui/jobs/" + id, "dashboard-job-phone.png"}} {
		run("phone width "+page.path, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(srv.URL+page.path),
			chromedp.WaitVisible(chromedp.CSS("main")))
		overflow := get(t, ctx, "overflow", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		shot := get(t, ctx, "phone screenshot", chromedp.FullScreenshot(100))
		os.WriteFile(filepath.Join(artifacts, page.file), shot, 0o644)
		if overflow {
			t.Errorf("%s overflows a 390-pixel-wide phone screen", page.path)
		}
	}
}

// get runs one browser action that returns a value, failing the test on error.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}
