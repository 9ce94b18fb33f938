// Package loki reads versions' log lines from Grafana Loki, over its HTTP
// API, as a logs.Source: the lines of one version over a window come from
// LogQL range queries on the version's label, and their templates are
// mined as they are read.
//
// Loki serves the lines; this package only queries them (Loki itself is
// AGPL-3.0 and nothing of it is imported). The tests run against a real
// Loki started on 127.0.0.1 by internal/testserver/lokitest.
package loki

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/safedeploy/safedeploy/internal/errlist"
	"github.com/safedeploy/safedeploy/internal/retry"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/logs"
)

// Defaults applied for zero fields of a Source.
const (
	DefaultVersionLabel = "version"
	// DefaultLimit is how many lines one query asks for: Loki's default
	// max_entries_limit_per_query.
	DefaultLimit = 5000
	// DefaultTimeout bounds each HTTP request.
	DefaultTimeout = 30 * time.Second
	// DefaultRetryFor is how long transient failures are retried.
	DefaultRetryFor = 10 * time.Second
	// DefaultMaxLines bounds the lines one Patterns call reads.
	DefaultMaxLines = 1_000_000
	// maxResponse bounds one response's size.
	maxResponse = 256 << 20
)

// ErrBadQuery is wrapped by errors that retrying cannot cure: Loki rejected
// the query (HTTP 400), or its answer is not what a range query returns.
var ErrBadQuery = errors.New("loki: bad query")

// An APIError is an answer from Loki that is not a result. Patterns
// retries those with status 429 or 5xx, and no others.
type APIError struct {
	StatusCode int
	// Message is the start of the body: Loki's error message.
	Message string
}

// Error returns the status and the message.
func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Unwrap returns ErrBadQuery for HTTP 400 (a query Loki rejects) and nil
// otherwise.
func (e *APIError) Unwrap() error {
	if e.StatusCode == http.StatusBadRequest {
		return ErrBadQuery
	}
	return nil
}

// A Source is a logs.Source over Loki's HTTP API. For a version and a
// window it reads every line of the streams Selector matches with
// VersionLabel equal to the version, through GET /loki/api/v1/query_range
// (forward, Limit lines a page, paging on time stamps), counts them all,
// and mines the templates of those at or above Level with one Miner
// shared by every call, so that template IDs match across versions and
// windows. Lines are read whole: choose a Selector that names the
// service's streams only.
//
// Set the fields before first use and do not change them after. A Source
// is safe for concurrent use.
type Source struct {
	// URL is Loki's base URL, such as "http://127.0.0.1:3100". Required.
	URL string
	// Selector is a LogQL stream selector naming the service's streams,
	// without the version: `{app="shop", env="prod"}`. Required.
	Selector string
	// VersionLabel is the stream label holding the version; empty means
	// "version".
	VersionLabel string
	// Pipeline, if set, is a LogQL pipeline appended to the selector to
	// read fewer lines, such as `|~ "(?i)warn|error|fatal|panic"` or
	// `| json | level=~"(?i)warn|error"`. Lines then counts only the lines
	// it keeps, so use the metric source's requests as the exposure.
	Pipeline string
	// Tenant, if set, is sent as X-Scope-OrgID, for a multi-tenant Loki.
	Tenant string
	// Level is the least level mined; nil means slog.LevelWarn.
	Level slog.Leveler
	// Limit is the lines asked for per request; zero means DefaultLimit.
	// It must not exceed the server's max_entries_limit_per_query.
	Limit int
	// MaxLines bounds the lines one call reads; zero means
	// DefaultMaxLines. A window with more fails with ErrBadQuery: narrow
	// the Selector or the window.
	MaxLines int
	// Client makes the requests; nil means one with DefaultTimeout.
	Client *http.Client
	// RetryFor is how long transient failures (connection errors, HTTP
	// 429 and 5xx) are retried with exponential backoff; zero means
	// DefaultRetryFor, negative means no retry.
	RetryFor time.Duration
	// Miner mines the templates; nil means a Miner with the defaults.
	Miner *logs.Miner

	once    sync.Once
	initErr error
	mu      sync.Mutex // guards miner
	miner   *logs.Miner
	client  *http.Client
}

var defaultClient = &http.Client{Timeout: DefaultTimeout}

// Validate returns one error naming every invalid field and its value, or
// nil.
func (s *Source) Validate() error {
	var errs []error
	bad := func(field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("loki.Source.%s = %q: %s", field, fmt.Sprint(value), problem))
	}
	if u, err := url.Parse(s.URL); s.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("URL", s.URL, "must be Loki's http or https base URL")
	}
	if sel := strings.TrimSpace(s.Selector); len(sel) < 2 || sel[0] != '{' || sel[len(sel)-1] != '}' || strings.TrimSpace(sel[1:len(sel)-1]) == "" {
		bad("Selector", s.Selector, `must be a LogQL stream selector with at least one matcher, such as {app="shop"}`)
	}
	if s.VersionLabel != "" && !validLabel(s.VersionLabel) {
		bad("VersionLabel", s.VersionLabel, "must be a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
	}
	if s.Limit < 0 {
		bad("Limit", s.Limit, "must be at least 0")
	}
	if s.MaxLines < 0 {
		bad("MaxLines", s.MaxLines, "must be at least 0")
	}
	return errlist.Join(errs...)
}

func validLabel(l string) bool {
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return l != ""
}

func (s *Source) setup() error {
	s.once.Do(func() {
		if s.initErr = s.Validate(); s.initErr != nil {
			return
		}
		s.miner = s.Miner
		if s.miner == nil {
			s.miner = &logs.Miner{}
		}
		s.client = s.Client
		if s.client == nil {
			s.client = defaultClient
		}
	})
	return s.initErr
}

// Query returns the LogQL query of version's lines: Selector with
// VersionLabel="version" added, the value quoted as LogQL needs, then
// Pipeline.
func (s *Source) Query(version string) string {
	sel := strings.TrimSpace(s.Selector)
	label := cmp.Or(s.VersionLabel, DefaultVersionLabel)
	q := sel[:len(sel)-1] + ", " + label + "=" + strconv.Quote(version) + "}"
	if p := strings.TrimSpace(s.Pipeline); p != "" {
		q += " " + p
	}
	return q
}

// Patterns implements logs.Source. It fails with an error wrapping
// verify.ErrNoData when no line of the version falls in the window, with
// one wrapping ErrBadQuery when the fields are invalid or Loki rejects the
// query, with a plain error for an empty or inverted window, and with one
// wrapping ctx's error when ctx ends.
func (s *Source) Patterns(ctx context.Context, q verify.Query) (logs.Observation, error) {
	if err := s.setup(); err != nil {
		return logs.Observation{}, fmt.Errorf("loki: %w: %w", ErrBadQuery, err)
	}
	if err := ctx.Err(); err != nil {
		return logs.Observation{}, fmt.Errorf("loki: patterns of %q: %w", q.Version, err)
	}
	if !q.End.After(q.Start) {
		return logs.Observation{}, fmt.Errorf("loki: patterns of %s: empty or inverted window", q)
	}
	logql := s.Query(q.Version)
	var (
		obs      logs.Observation
		lines    []entry
		warnings []string
	)
	err := s.page(ctx, logql, q.Start, q.End, func(page []entry, warn []string) error {
		lines = append(lines, page...)
		warnings = append(warnings, warn...)
		if max := cmpOr(s.MaxLines, DefaultMaxLines); len(lines) > max {
			return fmt.Errorf("%w: more than %d lines of %s in the window: narrow the Selector or the window", ErrBadQuery, max, logql)
		}
		return nil
	})
	if err != nil {
		return logs.Observation{}, fmt.Errorf("loki: patterns of %q: %w", q.Version, err)
	}
	if len(lines) == 0 {
		return logs.Observation{}, fmt.Errorf("loki: no line of %s in [%s, %s): %w", logql, q.Start.Format(time.RFC3339Nano), q.End.Format(time.RFC3339Nano), verify.ErrNoData)
	}
	obs.Lines = float64(len(lines))
	obs.Warnings = warnings
	obs.Patterns = s.mine(lines)
	return obs, nil
}

func cmpOr(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// mine assigns templates to lines, in time order, and sums them.
func (s *Source) mine(lines []entry) []logs.Pattern {
	min := slog.LevelWarn
	if s.Level != nil {
		min = s.Level.Level()
	}
	type rec struct {
		id    logs.ID
		level slog.Level
	}
	recs := make([]rec, len(lines))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range lines {
		r := logs.Parse(e.line)
		recs[i] = rec{id: -1, level: r.Level}
		if r.Level >= min {
			recs[i].id = s.miner.Add(r.Message)
		}
	}
	var out []logs.Pattern
	idx := map[logs.ID]int{}
	for i, r := range recs {
		if r.id < 0 {
			continue
		}
		id := s.miner.Resolve(r.id)
		k, ok := idx[id]
		if !ok {
			k = len(out)
			idx[id] = k
			out = append(out, logs.Pattern{
				ID: strconv.Itoa(int(id)), Template: s.miner.Template(id), Level: r.level,
				Example: lines[i].line, FirstSeen: lines[i].at,
			})
		}
		p := &out[k]
		p.Count++
		p.Level = max(p.Level, r.level)
	}
	return out
}

// An entry is one line read from Loki.
type entry struct {
	at     time.Time
	stream string
	line   string
}

// page reads every line of logql in [start, end), in pages of Limit lines
// in time order, handing each page to f. A page that ends at time t is
// followed by one starting at t; the lines at t already handed over are
// skipped.
func (s *Source) page(ctx context.Context, logql string, start, end time.Time, f func([]entry, []string) error) error {
	limit := cmpOr(s.Limit, DefaultLimit)
	seen := map[string]int{} // lines at the page's last time already handed over, by stream and line
	from := start
	for {
		page, warnings, err := s.rangeQuery(ctx, logql, from, end, limit)
		if err != nil {
			return err
		}
		last := from
		var fresh []entry
		dup := map[string]int{}
		for _, e := range page {
			if e.at.Equal(from) {
				k := e.stream + "\x00" + e.line
				if dup[k] < seen[k] {
					dup[k]++
					continue
				}
			}
			fresh = append(fresh, e)
			if e.at.After(last) {
				last = e.at
			}
		}
		if err := f(fresh, warnings); err != nil {
			return err
		}
		if len(page) < limit {
			return nil
		}
		if len(fresh) == 0 {
			// A full page of lines at one instant, all seen: whether more
			// lines share that instant cannot be told. Go on past it, and
			// say so.
			if err := f(nil, []string{fmt.Sprintf("%d or more lines of %s at %s: any beyond %d at that instant were not read; raise Limit (and Loki's max_entries_limit_per_query)", limit, logql, from.Format(time.RFC3339Nano), limit)}); err != nil {
				return err
			}
			from = from.Add(time.Nanosecond)
			clear(seen)
			continue
		}
		if !last.Equal(from) {
			clear(seen)
		}
		for _, e := range page {
			if e.at.Equal(last) {
				seen[e.stream+"\x00"+e.line]++
			}
		}
		from = last
	}
}

// rangeQuery asks for up to limit lines of logql in [from, end), forward,
// retrying transient failures.
func (s *Source) rangeQuery(ctx context.Context, logql string, from, end time.Time, limit int) ([]entry, []string, error) {
	params := url.Values{
		"query":     {logql},
		"start":     {strconv.FormatInt(from.UnixNano(), 10)},
		"end":       {strconv.FormatInt(end.UnixNano(), 10)},
		"limit":     {strconv.Itoa(limit)},
		"direction": {"forward"},
	}
	var (
		lines    []entry
		warnings []string
	)
	err := retry.Query(ctx, logql, cmp.Or(s.RetryFor, DefaultRetryFor), 0, transient, func(ctx context.Context) error {
		var err error
		lines, warnings, err = s.do(ctx, params)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return lines, warnings, nil
}

// transient reports whether err may go away if the query is asked again.
func transient(err error) bool {
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return retry.Status(apiErr.StatusCode)
	}
	return retry.Network(err)
}

// response is a range query's answer for a log query.
type response struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Stream map[string]string `json:"stream"`
			Values [][2]string       `json:"values"`
		} `json:"result"`
	} `json:"data"`
	Warnings []string `json:"warnings"`
}

// do runs one range query.
func (s *Source) do(ctx context.Context, params url.Values) ([]entry, []string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(s.URL, "/")+"/loki/api/v1/query_range?"+params.Encode(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if s.Tenant != "" {
		req.Header.Set("X-Scope-OrgID", s.Tenant)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	if len(body) > maxResponse {
		return nil, nil, fmt.Errorf("%w: the response exceeds %d MiB: lower Limit", ErrBadQuery, maxResponse>>20)
	}
	if resp.StatusCode/100 != 2 {
		return nil, nil, &APIError{StatusCode: resp.StatusCode, Message: excerpt(body)}
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, fmt.Errorf("%w: not a Loki query response (%s): %v", ErrBadQuery, excerpt(body), err)
	}
	if r.Status != "success" || r.Data.ResultType != "streams" {
		return nil, nil, fmt.Errorf("%w: status %q, result type %q, want success and streams (a log query, not a metric query)", ErrBadQuery, r.Status, r.Data.ResultType)
	}
	var out []entry
	for _, st := range r.Data.Result {
		key := streamKey(st.Stream)
		for _, v := range st.Values {
			ns, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: time stamp %q: %v", ErrBadQuery, v[0], err)
			}
			out = append(out, entry{at: time.Unix(0, ns), stream: key, line: v[1]})
		}
	}
	// Streams come one after the other: put the lines in time order, as a
	// page's last time must be the latest.
	sortEntries(out)
	return out, r.Warnings, nil
}

func streamKey(labels map[string]string) string {
	b, _ := json.Marshal(labels) // map keys are sorted
	return string(b)
}

func excerpt(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func sortEntries(es []entry) {
	slices.SortStableFunc(es, func(a, b entry) int { return a.at.Compare(b.at) })
}
