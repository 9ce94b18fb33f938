package scrape

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/internal/counter"
	"github.com/safedeploy/safedeploy/verify/promcount"
)

// family reports whether the family called name may hold series n reads. A
// histogram's family is named without the _bucket suffix of its series.
func family(n *promcount.Names, name string) bool {
	switch name {
	case n.Requests, n.Latency, strings.TrimSuffix(n.Latency, "_bucket"):
		return true
	}
	return n.Business != "" && name == n.Business
}

// parse reads a metrics page in the Prometheus text format and returns
// the series n names, by identity (name and labels), and what was wrong
// with those it skipped. Names may be any UTF-8, quoted as the format
// allows. Other metrics, typed or untyped, are skipped; so are values no
// counter holds (NaN, negative, infinite: see counter.Valid), as if the
// series were not there, and buckets whose "le" is not a number, each
// with a problem that drops the instance's latency where it counts. A
// page the parser rejects is an error.
func parse(r io.Reader, n *promcount.Names) (series map[string]point, problems []string, err error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]point)
	for _, name := range slices.Sorted(maps.Keys(families)) {
		if !family(n, name) {
			continue
		}
		// Flatten as Prometheus does on a scrape: a histogram becomes its
		// _bucket (with le="+Inf"), _sum and _count series.
		samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, families[name])
		if err != nil {
			return nil, nil, err
		}
		for _, s := range samples {
			p := point{value: float64(s.Value)}
			if !counter.Valid(p.value) {
				continue
			}
			switch name := string(s.Metric[model.MetricNameLabel]); {
			case name == n.Requests:
				p.kind = requests
				p.failed = n.Failed(string(s.Metric[model.LabelName(n.CodeLabel)]))
			case name == n.Latency:
				p.kind = bucket
				if p.le, err = promcount.ParseBound(string(s.Metric[model.BucketLabel])); err != nil {
					problems = append(problems, fmt.Sprintf("series %s skipped: %v", s.Metric, err))
					continue
				}
				group := s.Metric.Clone()
				delete(group, model.BucketLabel)
				p.group = identity(group)
			case n.Business != "" && name == n.Business:
				p.kind = business
			default:
				continue // a histogram's _sum and _count
			}
			out[identity(s.Metric)] = p
		}
	}
	return out, problems, nil
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
