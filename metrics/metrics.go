// Package metrics exposes vidjob's Prometheus metrics. Counts that live in the
// database (jobs by state, the queue, billed minutes, postback attempts) are read
// at scrape time, so that every process of a cluster reports the same totals;
// what happens inside one worker (transcode time, bytes moved) is counted where
// it happens.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vidjob/vidjob"
	"github.com/vidjob/vidjob/sqlstore"
)

// StatsSource reads the database's counts (package sqlstore).
type StatsSource interface {
	Stats(ctx context.Context) (sqlstore.Stats, error)
}

// Metrics holds vidjob's collectors on a registry of its own (no global state).
type Metrics struct {
	registry       *prometheus.Registry
	transcodeTime  *prometheus.HistogramVec
	realtimeFactor *prometheus.HistogramVec
	bytesFetched   prometheus.Counter
	bytesUploaded  prometheus.Counter
	sweptDirs      *prometheus.CounterVec
	sweptBytes     *prometheus.CounterVec
	localFaults    *prometheus.CounterVec
}

// New builds the metrics; stats is read on every scrape, bounded by a 5-second
// timeout.
func New(stats StatsSource, logger *slog.Logger) *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.transcodeTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "vidjob_transcode_seconds",
		Help: "Wall-clock seconds ffmpeg took per job, by the preset that ran.",
		// From a few seconds for a short clip to the 2-hour job limit.
		Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200},
	}, []string{"preset"})
	m.realtimeFactor = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vidjob_transcode_realtime_factor",
		Help:    "Seconds of media transcoded per wall-clock second (above 1 is faster than real time), by preset.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64},
	}, []string{"preset"})
	m.bytesFetched = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vidjob_source_bytes_fetched_total",
		Help: "Bytes of source media downloaded by this process.",
	})
	m.bytesUploaded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vidjob_output_bytes_uploaded_total",
		Help: "Bytes of output stored (S3 or the local store) by this process.",
	})
	m.sweptDirs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vidjob_work_dirs_swept_total",
		Help: "Work directories this process removed because no running attempt owned them, by reason (dead_worker, old_layout, ended_attempt).",
	}, []string{"reason"})
	m.sweptBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vidjob_work_bytes_swept_total",
		Help: "Bytes of files in the work directories this process swept, by reason.",
	}, []string{"reason"})
	m.localFaults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vidjob_local_disk_faults_total",
		Help: "Attempts that failed because the server's own disk failed them (ENOSPC, EDQUOT, EIO, EROFS), by error; each is retried.",
	}, []string{"error"})
	m.registry.MustRegister(m.transcodeTime, m.realtimeFactor, m.bytesFetched, m.bytesUploaded,
		m.sweptDirs, m.sweptBytes, m.localFaults,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&dbCollector{stats: stats, logger: logger})
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// SourceFetched counts a downloaded source.
func (m *Metrics) SourceFetched(bytes int64) { m.bytesFetched.Add(float64(bytes)) }

// OutputStored counts a stored output.
func (m *Metrics) OutputStored(bytes int64) { m.bytesUploaded.Add(float64(bytes)) }

// WorkFilesSwept counts a work directory removed by a sweep.
func (m *Metrics) WorkFilesSwept(reason string, bytes int64) {
	m.sweptDirs.WithLabelValues(reason).Inc()
	m.sweptBytes.WithLabelValues(reason).Add(float64(bytes))
}

// LocalDiskFault counts an attempt failed by the server's own disk; errno
// names the error (ENOSPC, ...).
func (m *Metrics) LocalDiskFault(errno string) { m.localFaults.WithLabelValues(errno).Inc() }

// Transcoded records one ffmpeg run: how long it took and how much media it made.
func (m *Metrics) Transcoded(presetID string, took time.Duration, mediaSeconds float64) {
	m.transcodeTime.WithLabelValues(presetID).Observe(took.Seconds())
	if took > 0 && mediaSeconds > 0 {
		m.realtimeFactor.WithLabelValues(presetID).Observe(mediaSeconds / took.Seconds())
	}
}

var (
	jobsDesc  = prometheus.NewDesc("vidjob_jobs", "Jobs in the database, by state.", []string{"state"}, nil)
	depthDesc = prometheus.NewDesc("vidjob_queue_depth", "Jobs accepted and waiting for a worker.", nil, nil)
	ageDesc   = prometheus.NewDesc("vidjob_queue_oldest_age_seconds",
		"How long the longest-waiting queued job has waited; 0 when none waits.", nil, nil)
	minutesDesc  = prometheus.NewDesc("vidjob_billed_minutes_total", "Minutes billed, over all applications.", nil, nil)
	amountDesc   = prometheus.NewDesc("vidjob_billed_usd_total", "US dollars billed, over all applications.", nil, nil)
	attemptsDesc = prometheus.NewDesc("vidjob_postback_attempts_total", "Postback delivery attempts.", nil, nil)
	failuresDesc = prometheus.NewDesc("vidjob_postback_failures_total", "Postback delivery attempts that failed.", nil, nil)
	upDesc       = prometheus.NewDesc("vidjob_database_up", "1 when the last scrape could read the database.", nil, nil)
)

// allStates are reported even at zero, so that a dashboard's series exist from
// the first scrape.
var allStates = []vidjob.State{vidjob.StateQueued, vidjob.StateFetching, vidjob.StateTranscoding,
	vidjob.StateUploading, vidjob.StateCompleted, vidjob.StateFailed}

// dbCollector reads the database's counts at scrape time.
type dbCollector struct {
	stats  StatsSource
	logger *slog.Logger
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{jobsDesc, depthDesc, ageDesc, minutesDesc, amountDesc, attemptsDesc, failuresDesc, upDesc} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.stats.Stats(ctx)
	if err != nil {
		c.logger.Warn("metrics: could not read the database", "err", err)
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	for _, s := range allStates {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(st.JobsByState[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(st.JobsByState[vidjob.StateQueued]))
	age := 0.0
	if !st.OldestQueued.IsZero() {
		age = max(0, time.Since(st.OldestQueued).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(minutesDesc, prometheus.CounterValue, float64(st.BilledMinutes))
	ch <- prometheus.MustNewConstMetric(amountDesc, prometheus.CounterValue, float64(st.BilledMicros)/1e6)
	ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.CounterValue, float64(st.PostbackAttempts))
	ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.CounterValue, float64(st.PostbackFailures))
}
