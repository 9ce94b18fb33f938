// Package demoapp is a small HTTP service instrumented the common way with
// prometheus/client_golang, for integration tests and the examples: it
// serves requests with a configured error rate and latency, counts them in
// http_requests_total{code,version}, times them in
// http_request_duration_seconds{version} and counts business events in
// business_events_total{version}, exposed on /metrics. With Config.Log set
// it also logs, as JSON lines, what a service logs: every request, its
// failures, and the errors of a bug that shows only in its logs.
package demoapp

import (
	"context"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config says how an App behaves.
type Config struct {
	// Version labels every metric.
	Version string
	// ErrorRate is the fraction of requests answered 500.
	ErrorRate float64
	// Latency is the median request duration; durations are log-normal
	// with spread 0.5. Zero means 2ms.
	Latency time.Duration
	// SlowShare of requests take SlowLatency instead (a slow tail).
	SlowShare   float64
	SlowLatency time.Duration
	// BusinessRate is the fraction of successful requests that complete a
	// business event (an order).
	BusinessRate float64
	// Faulty, if set, is consulted on every request: while it returns
	// false, the version behaves like a healthy one (ErrorRate and the slow
	// tail off), as code behind a feature flag that has been turned off.
	Faulty func() bool
	// Seed seeds the random draws.
	Seed uint64
	// Log, if set, receives the app's log as JSON lines, as log/slog's
	// JSONHandler writes them: "request served" at INFO for every request,
	// "request failed" at ERROR with the upstream error for every failed
	// one, and the errors of LogBugShare. Writes are serialised.
	Log io.Writer
	// LogBugShare is the share of requests that, while Faulty, hit a bug
	// that shows only in the log: "checkout degraded" at ERROR with
	// "connection pool exhausted for shard N", the request answered
	// normally from a fallback — too rare, or too well handled, to move
	// the error rate. The old code path never logs it.
	LogBugShare float64
}

// An App is one running instance of the service.
type App struct {
	c        Config
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration prometheus.Observer
	business prometheus.Counter
	mux      *http.ServeMux
	log      *slog.Logger // nil without Config.Log

	mu  sync.Mutex
	rng *rand.Rand

	// metrics is held shared while a request updates its series and
	// exclusively while /metrics gathers them, so that a scrape counts each
	// request in all of its series or in none. (A real service scraped
	// mid-request can count it in one and not yet the other: sources and
	// the judge take that; the tests that compare counts exactly need
	// this.)
	metrics sync.RWMutex

	served, failed atomic.Int64
	first          atomic.Int64 // unix nanoseconds of the first request, 0 before
}

// New returns an App configured by c, with a registry of its own.
func New(c Config) *App {
	if c.Latency <= 0 {
		c.Latency = 2 * time.Millisecond
	}
	a := &App{c: c, registry: prometheus.NewRegistry(), rng: rand.New(rand.NewPCG(c.Seed, 1))}
	if c.Log != nil {
		a.log = slog.New(slog.NewJSONHandler(c.Log, nil)).With("version", c.Version)
	}
	labels := prometheus.Labels{"version": c.Version}
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "Requests served, by status code.", ConstLabels: labels,
	}, []string{"code"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "Request durations.", ConstLabels: labels,
		Buckets: prometheus.DefBuckets,
	})
	a.duration = h
	a.business = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "business_events_total", Help: "Orders completed.", ConstLabels: labels,
	})
	a.registry.MustRegister(a.requests, h, a.business)
	// Zero-initialise the codes, so that a scrape before any error still
	// shows the error series.
	a.requests.WithLabelValues("200")
	a.requests.WithLabelValues("500")

	a.mux = http.NewServeMux()
	gather := promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{})
	a.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		a.metrics.Lock()
		defer a.metrics.Unlock()
		gather.ServeHTTP(w, r)
	})
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	a.mux.HandleFunc("/", a.serve)
	return a
}

// ServeHTTP implements http.Handler: /metrics, /healthz, and the service on
// every other path, whose responses say which version served them
// (X-Version) and whether the flagged code path did (X-Code-Path: new or
// old).
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Served returns how many requests the app has answered, and how many of
// them with an error.
func (a *App) Served() (requests, errors int64) { return a.served.Load(), a.failed.Load() }

// FirstRequest returns when the app answered its first request, or the
// zero time.
func (a *App) FirstRequest() time.Time {
	if n := a.first.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func (a *App) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a.first.CompareAndSwap(0, start.UnixNano())
	faulty := a.c.Faulty == nil || a.c.Faulty()
	a.mu.Lock()
	fail := faulty && a.rng.Float64() < a.c.ErrorRate
	d := time.Duration(float64(a.c.Latency) * math.Exp(0.5*a.rng.NormFloat64()))
	if faulty && a.rng.Float64() < a.c.SlowShare {
		d = a.c.SlowLatency
	}
	order := a.rng.Float64() < a.c.BusinessRate
	// Draw for the log only when there is one, so that an app without a
	// log makes the same draws as before it could log.
	bug := faulty && a.c.LogBugShare > 0 && a.rng.Float64() < a.c.LogBugShare
	var shard, upstream int
	if a.log != nil {
		shard, upstream = a.rng.IntN(16), 50+a.rng.IntN(950)
	}
	a.mu.Unlock()

	t := time.NewTimer(d)
	select {
	case <-r.Context().Done():
		t.Stop()
	case <-t.C:
	}
	code := http.StatusOK
	if fail {
		code = http.StatusInternalServerError
	}
	path := "new"
	if !faulty {
		path = "old" // the flag is off: the old code path serves
	}
	w.Header().Set("X-Version", a.c.Version)
	w.Header().Set("X-Code-Path", path)
	w.WriteHeader(code)
	a.metrics.RLock()
	a.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	a.duration.Observe(time.Since(start).Seconds())
	if !fail && order {
		a.business.Inc()
	}
	a.metrics.RUnlock()
	a.served.Add(1)
	if a.log != nil {
		ctx := r.Context()
		if bug {
			a.log.LogAttrs(ctx, slog.LevelError, "checkout degraded", slog.String("path", r.URL.Path),
				slog.String("err", "connection pool exhausted for shard "+strconv.Itoa(shard)))
		}
		if fail {
			a.log.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("path", r.URL.Path),
				slog.String("err", "upstream timeout after "+strconv.Itoa(upstream)+"ms"))
		}
		a.log.LogAttrs(ctx, slog.LevelInfo, "request served", slog.String("path", r.URL.Path),
			slog.Int("code", code), slog.Duration("took", time.Since(start)))
	}
	if fail {
		a.failed.Add(1)
	}
}

// Serve runs a on a new listener at 127.0.0.1 on a free port until ctx ends,
// and returns its base URL ("http://127.0.0.1:41234") once it is accepting
// connections.
func Serve(ctx context.Context, h http.Handler) (url string, done <-chan error, err error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	return "http://" + ln.Addr().String(), errc, nil
}
