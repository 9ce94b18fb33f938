package scrape

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
)

// A Target is one instance to scrape.
type Target struct {
	// URL is the address of the instance's metrics page, such as
	// "http://10.0.0.7:8080/metrics".
	URL string
	// Version is the version the instance runs. Observe sums the
	// instances of the version it is asked about.
	Version string
}

// Static returns a Targets function that always lists ts.
func Static(ts ...Target) func(context.Context) ([]Target, error) {
	ts = slices.Clone(ts)
	return func(context.Context) ([]Target, error) { return slices.Clone(ts), nil }
}

// A TargetError is the failure to scrape one target: it refused the
// connection, timed out, answered a status other than 200 or a page that
// does not parse.
type TargetError struct {
	Target Target
	Err    error
}

// Error names the target's URL and version, and says what went wrong.
func (e *TargetError) Error() string {
	return fmt.Sprintf("scrape %s (version %q): %v", e.Target.URL, e.Target.Version, e.Err)
}

// Unwrap returns e.Err.
func (e *TargetError) Unwrap() error { return e.Err }

const (
	// DefaultRetention is how much history a Source keeps when its
	// Retention is zero.
	DefaultRetention = time.Hour
	// DefaultTimeout bounds each scrape of a target when a Source's
	// Timeout is zero.
	DefaultTimeout = 10 * time.Second
	// parallel is how many targets a round scrapes at once.
	parallel = 32
	// accept asks for the text format, with UTF-8 names unescaped: version
	// 1.0.0 where the target knows it, 0.0.4 otherwise.
	accept = "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.5"
)

// A Source is a verify.MetricSource that reads the instances' own metrics
// pages: it scrapes each target's /metrics, keeps running totals of the
// series it reads with the time of each scrape round, and answers Observe
// from them, exactly, without a Prometheus server. See the package
// documentation for how a window is measured.
//
// Set Targets, and the other fields as needed, before first use, and do
// not change them after; do not copy a Source after first use. A Source is
// safe for concurrent use: Run, Scrape and Observe may be called from many
// goroutines, and rounds are taken one at a time.
type Source struct {
	// Targets lists the instances to scrape; every round calls it once.
	// It is required. A fleet adapter lists its running instances; Static
	// lists a fixed set.
	Targets func(ctx context.Context) ([]Target, error)

	// Transport carries every scrape, so that it can add authentication,
	// present a TLS client certificate or trust a private CA. Nil means
	// http.DefaultTransport.
	Transport http.RoundTripper

	// Timeout bounds each scrape of a target; one that times out is a
	// gap for that instance. Zero means DefaultTimeout (10s).
	Timeout time.Duration

	// Metrics names the series to read. The zero value reads what
	// client_golang's instrumentation exposes, and no business events.
	Metrics promcount.Metrics

	// Retention is how much scrape history to keep. Zero means
	// DefaultRetention. A window that starts before the oldest scrape kept
	// is measured from it; the Observation warns when that leaves out more
	// than a tenth of the window.
	Retention time.Duration

	once    sync.Once
	client  *http.Client
	names   *promcount.Names
	invalid error // a misconfiguration, found on first use

	scraping sync.Mutex // one round at a time, so rounds are in order
	mu       sync.Mutex // guards hist
	hist     history
}

var _ verify.MetricSource = (*Source)(nil)

// Validate returns nil, or one error listing every invalid field of s. It
// does not contact the targets. Scrape, Run and Observe validate s in the
// same way, so calling Validate is optional: it finds mistakes before the
// first scrape.
func (s *Source) Validate() error {
	var errs []error
	bad := func(field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", field, value, problem))
	}
	if s.Targets == nil {
		bad("Targets", nil, "required: nothing to scrape")
	}
	if s.Timeout < 0 {
		bad("Timeout", s.Timeout, "must not be negative")
	}
	if s.Retention < 0 {
		bad("Retention", s.Retention, "must not be negative")
	}
	errs = append(errs, s.Metrics.Validate())
	if err := errlist.Join(errs...); err != nil {
		return fmt.Errorf("scrape: invalid Source: %w", err)
	}
	return nil
}

// setup applies the defaults and checks the configuration, once.
func (s *Source) setup() (*promcount.Names, error) {
	s.once.Do(func() {
		if s.invalid = s.Validate(); s.invalid != nil {
			return
		}
		s.names, _ = s.Metrics.Compile()
		s.hist.names = s.names
		s.client = &http.Client{Transport: s.Transport, Timeout: cmp.Or(s.Timeout, DefaultTimeout)}
	})
	return s.names, s.invalid
}

func (s *Source) retention() time.Duration { return cmp.Or(s.Retention, DefaultRetention) }

// Scrape lists the targets and scrapes each one once, now, concurrently,
// recording what each gave with the time the round began. A target that
// fails is a gap for that instance, recorded with its error, which
// Observe reports among its Warnings. Scrape returns nil when at least one
// target was scraped, or none was listed. It fails
//
//   - with an error joining each target's *TargetError when every one
//     failed (the failures are recorded as gaps all the same);
//   - with an error wrapping the error of Targets when it fails;
//   - with an error wrapping ctx's error when ctx ends first, recording
//     nothing of the round;
//   - with the error of Validate when the Source is misconfigured.
func (s *Source) Scrape(ctx context.Context) error {
	s.scraping.Lock()
	defer s.scraping.Unlock()
	r, err := s.round(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, res := range r.results {
		if res.err == nil {
			return nil
		}
		errs = append(errs, res.err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("scrape: no target could be scraped: %w", errlist.Join(errs...))
}

// Run scrapes every target at once, then every interval, until ctx ends,
// and returns context.Cause(ctx). Failed rounds do not stop it: they are
// gaps, which Observe reports. It returns at once with an error if every
// is not positive, or the error of Validate.
func (s *Source) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("scrape: Run every %v: the interval must be positive", every)
	}
	if _, err := s.setup(); err != nil {
		return err
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.scraping.Lock()
		s.round(ctx) // failures are recorded; the round's error says nothing new
		s.scraping.Unlock()
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-tick.C:
		}
	}
}

// Observe implements verify.MetricSource: what the instances of q.Version
// served over [q.Start, q.End), summed, from the stored scrapes. If q.End
// is after the newest scrape, it first scrapes now, so that a caller
// asking at the end of each interval gets fresh data without running a
// loop; if that scrape fails, Observe answers from what it has, and warns.
// When no page scraped in the window has a series of the latency metric,
// or of the business metric when one is named, Observe answers without it
// and warns with the text of a *verify.MetricNotFoundError, which
// verify.MetricsNotFound reads back.
//
// The window is measured between two scrape rounds, the first at or after
// q.Start and the first at or after q.End; the package documentation says
// exactly how. Observe fails
//
//   - with an error wrapping ctx's error if ctx is done;
//   - with a plain error if the window is empty or inverted, or the error
//     of Validate;
//   - with an error wrapping verify.ErrNoData when no round falls in the
//     window, or no instance of q.Version was scraped in it (none is
//     listed, or every scrape of them failed: the error says which), or
//     its instances exposed no series of the requests metric;
//   - with an error wrapping a *verify.MetricNotFoundError (which matches
//     verify.ErrNoData too) when no page scraped in the window, of any
//     version, has a series of the requests metric: its name is most
//     likely wrong;
//   - with an error wrapping the error of Targets, and not
//     verify.ErrNoData, when Targets failed on the scrape Observe needed
//     and nothing stored answers for the window: the source could not
//     look, which is not the same as having looked and seen nothing.
func (s *Source) Observe(ctx context.Context, q verify.Query) (verify.Observation, error) {
	if err := ctx.Err(); err != nil {
		return verify.Observation{}, fmt.Errorf("scrape: observe %q: %w", q.Version, err)
	}
	if !q.End.After(q.Start) {
		return verify.Observation{}, fmt.Errorf("scrape: observe %s: empty or inverted window", q)
	}
	if _, err := s.setup(); err != nil {
		return verify.Observation{}, err
	}
	var failed error
	s.scraping.Lock()
	if s.stale(q.End) {
		_, failed = s.round(ctx)
	}
	s.scraping.Unlock()
	if err := ctx.Err(); err != nil {
		return verify.Observation{}, fmt.Errorf("scrape: observe %q: %w", q.Version, err)
	}

	s.mu.Lock()
	obs, err := s.hist.observe(q.Version, q.Start, q.End)
	s.mu.Unlock()
	switch {
	case failed == nil:
	case err != nil:
		// Nothing stored, and the source could not look: a failure, not
		// a gap.
		return verify.Observation{}, fmt.Errorf("scrape: observe %s: nothing stored, and scraping now failed: %w", q, failed)
	default:
		obs.Warnings = append(obs.Warnings, fmt.Sprintf("could not scrape now, answered from the stored scrapes: %v", failed))
	}
	return obs, err
}

// stale reports whether end is after the newest round, or there is none.
func (s *Source) stale(end time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	newest, ok := s.hist.newest()
	return !ok || end.After(newest)
}

// round takes one round and records it, with s.scraping held. It returns
// an error, having recorded nothing of the targets, when they cannot be
// listed or ctx ends; failed targets are in the round.
func (s *Source) round(ctx context.Context) (round, error) {
	n, err := s.setup()
	if err != nil {
		return round{}, err
	}
	if err := ctx.Err(); err != nil {
		return round{}, fmt.Errorf("scrape: %w", err)
	}
	targets, err := s.Targets(ctx)
	at := time.Now()
	if err != nil {
		err = fmt.Errorf("scrape: list targets: %w", err)
		if ctx.Err() == nil {
			s.mu.Lock()
			s.hist.addUnlisted(at, err)
			s.hist.prune(at.Add(-s.retention()))
			s.mu.Unlock()
		}
		return round{}, err
	}
	r := round{at: at}
	seen := make(map[Target]bool, len(targets))
	for _, t := range targets {
		if !seen[t] {
			seen[t] = true
			r.results = append(r.results, result{target: t})
		}
	}
	var g errgroup.Group
	g.SetLimit(parallel)
	for i := range r.results {
		g.Go(func() error {
			res := &r.results[i]
			res.series, res.problems, res.err = s.fetch(ctx, res.target.URL, n)
			if res.err != nil {
				res.err = &TargetError{Target: res.target, Err: res.err}
			}
			return nil
		})
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return round{}, fmt.Errorf("scrape: %w", err) // the failures are ours, not the targets'
	}
	s.mu.Lock()
	s.hist.add(r)
	s.hist.prune(at.Add(-s.retention()))
	s.mu.Unlock()
	return r, nil
}

// fetch reads one metrics page.
func (s *Source) fetch(ctx context.Context, target string, n *promcount.Names) (map[string]point, []string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := s.client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // TargetError names the URL
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
		return nil, nil, fmt.Errorf("status %s", resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	switch mt, _, _ := mime.ParseMediaType(ct); mt {
	case "application/vnd.google.protobuf", "application/openmetrics-text":
		return nil, nil, fmt.Errorf("content type %q: want the Prometheus text format", ct)
	}
	series, problems, err := parse(&limited{r: resp.Body, n: maxPage}, n)
	if err != nil {
		return nil, nil, fmt.Errorf("parse metrics: %w", err)
	}
	return series, problems, nil
}
