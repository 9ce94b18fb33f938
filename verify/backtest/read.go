package backtest

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

// ErrInvalid is matched by errors.Is for every error that says a replay
// file, or a Data built by hand, is malformed: every *ParseError, and the
// shape errors of Replay.
var ErrInvalid = errors.New("backtest: invalid replay data")

// A ParseError is a problem at one line of a replay file, and for a
// problem with one field, its column (the column's header name).
// Err says what is wrong; for bad CSV it wraps the encoding/csv error
// (csv.ErrQuote, csv.ErrBareQuote, csv.ErrFieldCount). A *ParseError
// matches ErrInvalid.
type ParseError struct {
	// Line is the line of the file, from 1, counting comments and blank
	// lines.
	Line int
	// Column is the header name of the column at fault, or "" when the
	// problem is not one field's.
	Column string
	// Err says what is wrong.
	Err error
}

// Error returns `line 7: column "errors": "x" is not a number`, or
// `line 9: le=+Inf 90 differs from requests 100` when the problem is not
// one field's.
func (e *ParseError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("line %d: column %q: %v", e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalid.
func (e *ParseError) Is(target error) bool { return target == ErrInvalid }

// Data is a replay file, read: its intervals in time order, each lasting
// Length.
type Data struct {
	// Length is how long each interval lasts, from its Time. Read sets it
	// to the smallest spacing between two consecutive times in the file,
	// or to verify.DefaultInterval when the file has a single time. Set it
	// yourself when the file's rows cover less than their spacing (one
	// minute of data every five minutes); Replay refuses a Length that is
	// not positive or that would make two intervals overlap.
	Length time.Duration
	// Intervals are the file's times in order, each with its rows.
	Intervals []Interval
}

// An Interval is one time of a replay file with the rows of both arms.
type Interval struct {
	// Time is the interval's start, as the file gave it (its offset from
	// UTC kept).
	Time time.Time
	// Line is the line of the interval's first row.
	Line int
	// Canary is the new version's row, or nil when the file has none for
	// Time: no data, which Replay treats as a gap, not as zero traffic.
	Canary *verify.Observation
	// Baseline is the old version's row over the same time, or nil when
	// the file has none.
	Baseline *verify.Observation
}

// Interval returns the i-th interval as a judge observes it: from its Time
// for d.Length, with the canary row as Canary (zero when the file has none)
// and the baseline row as Control (nil when the file has none). It panics
// if i is out of range.
func (d *Data) Interval(i int) verify.Interval {
	iv := d.Intervals[i]
	out := verify.Interval{Start: iv.Time, End: iv.Time.Add(d.Length), Control: iv.Baseline}
	if iv.Canary != nil {
		out.Canary = *iv.Canary
	}
	return out
}

// The two arms a row may describe.
const (
	ArmBaseline = "baseline"
	ArmCanary   = "canary"
)

// Column names.
const (
	colTime     = "time"
	colArm      = "arm"
	colRequests = "requests"
	colErrors   = "errors"
	colBusiness = "business"
	lePrefix    = "le="
)

// header is where each column is in a file, -1 for an absent optional one.
type header struct {
	time, arm, requests, errors, business int
	// buckets are the histogram columns in order of bound, +Inf last.
	buckets []bucketColumn
}

type bucketColumn struct {
	name  string
	bound float64
	index int
}

// Read reads a replay file (the format is in the package doc) and returns
// its intervals in time order. It reads r to the end and fails with a
// *ParseError naming the first bad line, and the column where one field is
// at fault: bad CSV, a missing, unknown or repeated column, a field that is
// not a number or an RFC 3339 time, an unknown arm, le=+Inf differing from
// requests, a time earlier than the row before, or a second row of the same
// arm for one time. A file with a header and no rows fails too. An error
// reading r is returned wrapped.
//
// Read checks the format, not whether the counts are possible: negative
// counts (a counter reset written as a raw delta), more errors than
// requests, or buckets that decrease are passed through for the judge to
// weigh.
func Read(r io.Reader) (*Data, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	rec, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ParseError{Line: 1, Err: errors.New("empty file: a header is required (time,arm,requests,errors…)")}
	}
	if err != nil {
		return nil, csvError(err)
	}
	line, _ := cr.FieldPos(0)
	h, err := parseHeader(rec, line)
	if err != nil {
		return nil, err
	}

	d := &Data{}
	// first[arm] is the line of the current time's row of that arm, 0 if none.
	var first [2]int
	for {
		rec, err = cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ = cr.FieldPos(0)
		t, arm, obs, err := h.parseRow(rec, line)
		if err != nil {
			return nil, err
		}
		n := len(d.Intervals)
		switch {
		case n == 0 || t.After(d.Intervals[n-1].Time):
			d.Intervals = append(d.Intervals, Interval{Time: t, Line: line})
			first = [2]int{}
			n++
		case t.Before(d.Intervals[n-1].Time):
			prev := d.Intervals[n-1]
			return nil, &ParseError{Line: line, Column: colTime, Err: fmt.Errorf("%s is before %s on line %d: rows must be in time order",
				strings.TrimSpace(rec[h.time]), prev.Time.Format(time.RFC3339Nano), prev.Line)}
		}
		iv := &d.Intervals[n-1]
		a := 0
		if arm == ArmCanary {
			a = 1
		}
		if first[a] != 0 {
			return nil, &ParseError{Line: line, Column: colArm, Err: fmt.Errorf("a second %s row for %s (the first is on line %d)",
				arm, iv.Time.Format(time.RFC3339Nano), first[a])}
		}
		first[a] = line
		if arm == ArmCanary {
			iv.Canary = &obs
		} else {
			iv.Baseline = &obs
		}
	}
	if len(d.Intervals) == 0 {
		return nil, &ParseError{Line: line + 1, Err: errors.New("no rows after the header")}
	}
	d.Length = spacing(d.Intervals)
	if d.Length == 0 {
		d.Length = verify.DefaultInterval
	}
	return d, nil
}

// spacing returns the smallest gap between consecutive times, or 0 for
// fewer than two.
func spacing(ivs []Interval) time.Duration {
	var s time.Duration
	for i := 1; i < len(ivs); i++ {
		if d := ivs[i].Time.Sub(ivs[i-1].Time); s == 0 || d < s {
			s = d
		}
	}
	return s
}

// csvError turns an encoding/csv error into a *ParseError.
func csvError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("backtest: reading the replay file: %w", err)
	}
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		return &ParseError{Line: pe.Line, Err: fmt.Errorf("%w (the header has a different number)", pe.Err)}
	}
	return &ParseError{Line: pe.Line, Err: fmt.Errorf("character %d: %w", pe.Column, pe.Err)}
}

func parseHeader(rec []string, line int) (*header, error) {
	h := &header{time: -1, arm: -1, requests: -1, errors: -1, business: -1}
	seen := map[string]int{}
	bounds := map[float64]string{}
	for i, raw := range rec {
		if i == 0 {
			raw = strings.TrimPrefix(raw, "\ufeff") // the byte-order mark some spreadsheets write
		}
		name := strings.TrimSpace(raw)
		if j, ok := seen[name]; ok {
			return nil, &ParseError{Line: line, Column: name, Err: fmt.Errorf("appears twice (columns %d and %d)", j+1, i+1)}
		}
		seen[name] = i
		switch {
		case name == colTime:
			h.time = i
		case name == colArm:
			h.arm = i
		case name == colRequests:
			h.requests = i
		case name == colErrors:
			h.errors = i
		case name == colBusiness:
			h.business = i
		case strings.HasPrefix(name, lePrefix):
			s := strings.TrimPrefix(name, lePrefix)
			b, err := strconv.ParseFloat(s, 64)
			switch {
			case err != nil, math.IsNaN(b), b < 0:
				return nil, &ParseError{Line: line, Column: name, Err: fmt.Errorf("bound %q is not a number of seconds ≥ 0", s)}
			}
			if other, ok := bounds[b]; ok {
				return nil, &ParseError{Line: line, Column: name, Err: fmt.Errorf("the same bound as column %q", other)}
			}
			bounds[b] = name
			h.buckets = append(h.buckets, bucketColumn{name: name, bound: b, index: i})
		default:
			return nil, &ParseError{Line: line, Column: name, Err: errors.New("unknown column (want time, arm, requests, errors, business or le=<seconds>)")}
		}
	}
	var missing []string
	for _, c := range []struct {
		name string
		i    int
	}{{colTime, h.time}, {colArm, h.arm}, {colRequests, h.requests}, {colErrors, h.errors}} {
		if c.i < 0 {
			missing = append(missing, strconv.Quote(c.name))
		}
	}
	if len(missing) > 0 {
		return nil, &ParseError{Line: line, Err: fmt.Errorf("missing required column(s) %s in the header", strings.Join(missing, ", "))}
	}
	slices.SortFunc(h.buckets, func(a, b bucketColumn) int { return cmp.Compare(a.bound, b.bound) })
	if n := len(h.buckets); n > 0 && !math.IsInf(h.buckets[n-1].bound, 1) {
		return nil, &ParseError{Line: line, Err: errors.New(`histogram columns need an "le=+Inf" column (equal to requests)`)}
	}
	return h, nil
}

// parseRow parses one row.
func (h *header) parseRow(rec []string, line int) (t time.Time, arm string, o verify.Observation, err error) {
	field := func(i int) string { return strings.TrimSpace(rec[i]) }
	bad := func(col string, format string, args ...any) error {
		return &ParseError{Line: line, Column: col, Err: fmt.Errorf(format, args...)}
	}
	number := func(col string, i int) (float64, error) {
		s := field(i)
		if s == "" {
			return 0, bad(col, "is empty")
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, bad(col, "%q is not a number", s)
		}
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, bad(col, "%q is not a finite number", s)
		}
		return v, nil
	}

	s := field(h.time)
	if s == "" {
		return t, "", o, bad(colTime, "is empty")
	}
	if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
		detail := ""
		var te *time.ParseError
		if errors.As(err, &te) {
			detail = te.Message // ": month out of range", or empty
		}
		return t, "", o, bad(colTime, "%q is not an RFC 3339 time like 2025-03-01T12:00:00Z%s", s, detail)
	}
	switch arm = field(h.arm); arm {
	case ArmBaseline, ArmCanary:
	default:
		return t, "", o, bad(colArm, "unknown arm %q (want %s or %s)", arm, ArmBaseline, ArmCanary)
	}
	if o.Requests, err = number(colRequests, h.requests); err != nil {
		return t, "", o, err
	}
	if o.Errors, err = number(colErrors, h.errors); err != nil {
		return t, "", o, err
	}
	if h.business >= 0 && field(h.business) != "" {
		if o.Business, err = number(colBusiness, h.business); err != nil {
			return t, "", o, err
		}
	}
	if len(h.buckets) == 0 {
		return t, arm, o, nil
	}
	// Histogram cells are all empty (no latency for this row) or all set.
	empty := 0
	for _, b := range h.buckets {
		if field(b.index) == "" {
			empty++
		}
	}
	switch empty {
	case len(h.buckets):
		return t, arm, o, nil
	case 0:
	default:
		for _, b := range h.buckets {
			if field(b.index) == "" {
				return t, "", o, bad(b.name, "is empty but other le= columns are not (leave all empty for a row without latency)")
			}
		}
	}
	o.Latency = make(verify.Histogram, len(h.buckets))
	for i, b := range h.buckets {
		v, err := number(b.name, b.index)
		if err != nil {
			return t, "", o, err
		}
		o.Latency[i] = verify.Bucket{UpperBound: b.bound, Count: v}
	}
	if inf := o.Latency[len(o.Latency)-1].Count; !sameCount(inf, o.Requests) {
		return t, "", o, &ParseError{Line: line, Err: fmt.Errorf("le=+Inf %s differs from requests %s", formatCount(inf), formatCount(o.Requests))}
	}
	return t, arm, o, nil
}

// sameCount reports whether two counts are equal but for float rounding.
func sameCount(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func formatCount(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
