package scrape

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metrics is the names a Source is configured with, before defaults.
type metrics struct {
	requests, code, errorCodes, latency, business string
}

// names is metrics with defaults in place and the error pattern compiled.
type names struct {
	requests, code, buckets, business string
	errorCodes                        *regexp.Regexp
}

// compile returns m with its defaults, or an error naming the field that is
// invalid.
func (m metrics) compile() (*names, error) {
	n := &names{requests: m.requests, code: m.code, buckets: m.latency, business: m.business}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&n.requests, "http_requests_total")
	def(&n.code, "code")
	def(&n.buckets, "http_request_duration_seconds_bucket")
	codes := m.errorCodes
	def(&codes, "5..")
	re, err := regexp.Compile("^(?:" + codes + ")$")
	if err != nil {
		return nil, fmt.Errorf("scrape: Source.ErrorCodes %q: %w", m.errorCodes, err)
	}
	n.errorCodes = re
	return n, nil
}

// family reports whether the family called name may hold series n reads. A
// histogram's family is named without the _bucket suffix of its series.
func (n *names) family(name string) bool {
	switch name {
	case n.requests, n.buckets, strings.TrimSuffix(n.buckets, "_bucket"):
		return true
	}
	return n.business != "" && name == n.business
}

// parse reads a metrics page in the Prometheus text format and returns
// the series n names, by identity (name and labels). Names may be any
// UTF-8, quoted as the format allows. Other metrics, typed or untyped, are
// skipped; so are NaN values, which no counter holds. A page the parser
// rejects, or a bucket whose "le" is not a number, is an error.
func parse(r io.Reader, n *names) (map[string]point, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := make(map[string]point)
	for name, f := range families {
		if !n.family(name) {
			continue
		}
		// Flatten as Prometheus does on a scrape: a histogram becomes its
		// _bucket (with le="+Inf"), _sum and _count series.
		samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, f)
		if err != nil {
			return nil, err
		}
		for _, s := range samples {
			p := point{value: float64(s.Value)}
			if math.IsNaN(p.value) {
				continue
			}
			switch name := string(s.Metric[model.MetricNameLabel]); {
			case name == n.requests:
				p.kind = requests
				p.failed = n.errorCodes.MatchString(string(s.Metric[model.LabelName(n.code)]))
			case name == n.buckets:
				p.kind = bucket
				le := string(s.Metric[model.BucketLabel])
				if p.le, err = strconv.ParseFloat(le, 64); err != nil || math.IsNaN(p.le) {
					return nil, fmt.Errorf("series %s: le=%q is not a number", s.Metric, le)
				}
			case n.business != "" && name == n.business:
				p.kind = business
			default:
				continue // a histogram's _sum and _count
			}
			out[identity(s.Metric)] = p
		}
	}
	return out, nil
}

// identity returns a series' name and labels, quoted and sorted, as a
// string that tells any two series apart.
func identity(m model.Metric) string {
	var b strings.Builder
	b.WriteString(strconv.Quote(string(m[model.MetricNameLabel])))
	sep := byte('{')
	for _, l := range slices.Sorted(maps.Keys(m)) {
		if l == model.MetricNameLabel {
			continue
		}
		b.WriteByte(sep)
		sep = ','
		b.WriteString(strconv.Quote(string(l)))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(string(m[l])))
	}
	if sep == '{' {
		b.WriteByte(sep)
	}
	b.WriteByte('}')
	return b.String()
}

// errTooLarge is returned when a metrics page exceeds maxPage.
var errTooLarge = errors.New("metrics page too large")

// maxPage bounds a metrics page, so that a broken target cannot exhaust
// memory.
const maxPage = 64 << 20

// limited reads at most n bytes from r, then fails with errTooLarge.
type limited struct {
	r io.Reader
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Say so only if there is more to read.
		var one [1]byte
		k, err := l.r.Read(one[:])
		if k > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}
