package scrape

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/safedeploy/safedeploy/internal/counter"
	"github.com/safedeploy/safedeploy/verify"
)

// This file is the pure core: scrape rounds in, observations out. It does
// no I/O and reads no clock, so tests feed it synthetic rounds.

// A round is one scrape of every listed target, stamped with the time it
// began: every sample it holds was read at or after that time.
type round struct {
	at      time.Time
	results []result
}

// A result is what scraping one target gave: its series, or why it failed.
type result struct {
	target Target
	series map[string]point // by series identity (name and labels)
	err    error
}

// A kind says which of the source's metrics a series belongs to.
type kind uint8

const (
	requests kind = iota
	business
	bucket
)

// A point is one series' value in one scrape, with what the series measures.
type point struct {
	kind   kind
	failed bool    // requests only: the series counts failed requests
	le     float64 // bucket only: the upper bound
	value  float64
}

// A series is one counter of one instance, sampled at every successful
// scrape of the instance.
type series struct {
	kind    kind
	failed  bool
	le      float64
	samples []counter.Sample
}

// A miss is a failure at a time: a target that could not be scraped, or a
// round whose targets could not be listed.
type miss struct {
	at  time.Time
	err string
}

// An instance is what the history knows of one target.
type instance struct {
	target Target
	// fromZero is set when the target was first listed after the
	// history's first round: it started since, so its first sample counts
	// in full. A target listed from the first round may have served for
	// hours before; its first sample is only where counting starts.
	fromZero bool
	first    time.Time   // its first successful scrape; zero before
	scrapes  []time.Time // its successful scrapes, in order
	misses   []miss      // its failed scrapes, in order
	series   map[string]*series
}

// A history is the scrapes a Source keeps: the rounds' times, and per
// instance its series' samples. Its zero value is empty and ready.
type history struct {
	rounds    []time.Time // in order, without repeats
	added     int         // rounds ever added, pruned ones included
	unlisted  []miss      // rounds that could not list their targets
	instances map[Target]*instance
}

// add records r. A round stamped before the newest is taken as simultaneous
// with it, so that rounds stay in order.
func (h *history) add(r round) {
	if n := len(h.rounds); n > 0 && r.at.Before(h.rounds[n-1]) {
		r.at = h.rounds[n-1]
	}
	if h.instances == nil {
		h.instances = make(map[Target]*instance)
	}
	for _, res := range r.results {
		in := h.instances[res.target]
		if in == nil {
			in = &instance{target: res.target, fromZero: h.added > 0, series: make(map[string]*series)}
			h.instances[res.target] = in
		}
		if res.err != nil {
			in.misses = append(in.misses, miss{r.at, res.err.Error()})
			continue
		}
		if in.first.IsZero() {
			in.first = r.at
		}
		in.scrapes = append(in.scrapes, r.at)
		for key, p := range res.series {
			s := in.series[key]
			if s == nil {
				s = &series{kind: p.kind, failed: p.failed, le: p.le}
				in.series[key] = s
			}
			s.samples = append(s.samples, counter.Sample{T: r.at, V: p.value})
		}
		// A live process never drops a counter it has exposed: a series
		// that vanished went with a restart, and will come back from zero.
		for key, s := range in.series {
			if _, ok := res.series[key]; !ok && s.samples[len(s.samples)-1].V != 0 {
				s.samples = append(s.samples, counter.Sample{T: r.at, V: 0})
			}
		}
	}
	if n := len(h.rounds); n == 0 || r.at.After(h.rounds[n-1]) {
		h.rounds = append(h.rounds, r.at)
	}
	h.added++
}

// addUnlisted records a round that could not list its targets.
func (h *history) addUnlisted(at time.Time, err error) {
	h.unlisted = append(h.unlisted, miss{at, err.Error()})
}

// prune forgets what happened before horizon, keeping for each series its
// last sample before it, from which the next increase counts.
func (h *history) prune(horizon time.Time) {
	h.rounds = dropBefore(h.rounds, func(t time.Time) time.Time { return t }, horizon)
	h.unlisted = dropBefore(h.unlisted, missTime, horizon)
	for target, in := range h.instances {
		in.scrapes = dropBefore(in.scrapes, func(t time.Time) time.Time { return t }, horizon)
		in.misses = dropBefore(in.misses, missTime, horizon)
		if len(in.scrapes) == 0 && len(in.misses) == 0 {
			delete(h.instances, target) // gone for longer than the retention
			continue
		}
		for _, s := range in.series {
			if i := countFunc(s.samples, func(x counter.Sample) bool { return x.T.Before(horizon) }); i > 1 {
				s.samples = slices.Delete(s.samples, 0, i-1)
			}
		}
	}
}

func missTime(m miss) time.Time { return m.at }

// dropBefore removes the leading elements of s, in time order, that are
// before horizon.
func dropBefore[T any](s []T, at func(T) time.Time, horizon time.Time) []T {
	return slices.Delete(s, 0, countFunc(s, func(x T) bool { return at(x).Before(horizon) }))
}

// countFunc returns how many leading elements of s satisfy f.
func countFunc[T any](s []T, f func(T) bool) int {
	i := 0
	for i < len(s) && f(s[i]) {
		i++
	}
	return i
}

// newest returns the time of the newest round, or false if there is none.
func (h *history) newest() (time.Time, bool) {
	if len(h.rounds) == 0 {
		return time.Time{}, false
	}
	return h.rounds[len(h.rounds)-1], true
}

// observe returns what the instances of version served over [start, end):
// the increases of their series between two rounds, the first at or after
// start and the first at or after end (the newest if none is), summed. Each
// instance counts from its last sample at or before the first round to its
// last sample at or before the second. See the package documentation.
func (h *history) observe(version string, start, end time.Time) (verify.Observation, error) {
	var obs verify.Observation
	where := fmt.Sprintf("version %q over %s", version, window(start, end))
	s, _ := slices.BinarySearchFunc(h.rounds, start, time.Time.Compare)
	if s == len(h.rounds) {
		return obs, fmt.Errorf("scrape: %s: no scrape at or after the window's start: %w", where, verify.ErrNoData)
	}
	e, _ := slices.BinarySearchFunc(h.rounds, end, time.Time.Compare)
	if e == len(h.rounds) {
		e = len(h.rounds) - 1
		obs.Warnings = append(obs.Warnings, fmt.Sprintf("the window ends after the newest scrape: measured up to it, %s before the end", end.Sub(h.rounds[e]).Round(time.Millisecond)))
	}
	if s == e {
		return verify.Observation{}, fmt.Errorf("scrape: %s: no scrape in the window: %w", where, verify.ErrNoData)
	}
	from, to := h.rounds[s], h.rounds[e]
	if lead := from.Sub(start); s == 0 && lead > end.Sub(start)/10 {
		obs.Warnings = append(obs.Warnings, fmt.Sprintf("the window starts before the oldest scrape kept: measured from it, %s after the start", lead.Round(time.Millisecond)))
	}
	in := func(t time.Time) bool { return t.After(from) && !t.After(to) }
	if n, last := misses(h.unlisted, in); n > 0 {
		obs.Warnings = append(obs.Warnings, fmt.Sprintf("%d scrape round(s) in the window could not list the targets, last: %s", n, last))
	}

	// Increase counts from the last sample before its start and up to the
	// last before its end: one nanosecond after a round takes the round's
	// own samples in.
	a, b := from.Add(time.Nanosecond), to.Add(time.Nanosecond)
	covered, missed := 0, 0
	lastMiss := ""
	type latency struct {
		target Target
		counts map[float64]float64
	}
	var latencies []latency
	for _, inst := range h.sorted(version) {
		if n, last := misses(inst.misses, in); n > 0 {
			missed += n
			lastMiss = last
			obs.Warnings = append(obs.Warnings, fmt.Sprintf("%d failed scrape(s) in the window, last: %s", n, last))
		}
		if !slices.ContainsFunc(inst.scrapes, in) {
			continue
		}
		covered++
		since := a
		if !inst.fromZero && since.Before(inst.first.Add(time.Nanosecond)) {
			since = inst.first.Add(time.Nanosecond) // its first sample is where counting starts
		}
		counts := map[float64]float64{}
		for _, s := range inst.series {
			inc, ok := counter.Increase(s.samples, since, b)
			if !ok {
				continue
			}
			switch s.kind {
			case requests:
				obs.Requests += inc
				if s.failed {
					obs.Errors += inc
				}
			case business:
				obs.Business += inc
			case bucket:
				counts[s.le] += inc
			}
		}
		if len(counts) > 0 {
			latencies = append(latencies, latency{inst.target, counts})
		}
	}
	if covered == 0 {
		why := "no instance of it was scraped in the window"
		if missed > 0 {
			why = fmt.Sprintf("%d scrape(s) of its instances in the window failed, last: %s", missed, lastMiss)
		}
		return verify.Observation{}, fmt.Errorf("scrape: %s: %s: %w", where, why, verify.ErrNoData)
	}
	if len(latencies) == 0 {
		return obs, nil
	}

	// Sum the instances' buckets by bound. Instances with different bounds
	// cannot be summed bucket by bucket: keep the bounds they share.
	shared := slices.Sorted(maps.Keys(latencies[0].counts))
	for _, l := range latencies[1:] {
		shared = slices.DeleteFunc(shared, func(le float64) bool { _, ok := l.counts[le]; return !ok })
	}
	for _, l := range latencies {
		if len(l.counts) != len(shared) {
			obs.Warnings = append(obs.Warnings, fmt.Sprintf("the instances' latency buckets differ (%s has %s): kept the %d bounds they share", l.target.URL, bounds(l.counts), len(shared)))
			break
		}
	}
	if len(shared) == 0 || !math.IsInf(shared[len(shared)-1], 1) {
		obs.Warnings = append(obs.Warnings, "no latency histogram: the buckets they share do not end with le=\"+Inf\"")
		return obs, nil
	}
	obs.Latency = make(verify.Histogram, len(shared))
	for i, le := range shared {
		obs.Latency[i].UpperBound = le
		for _, l := range latencies {
			obs.Latency[i].Count += l.counts[le]
		}
		// Restarts are found series by series, so a bucket may come out a
		// little below the one before it; cumulative counts never do.
		if i > 0 && obs.Latency[i].Count < obs.Latency[i-1].Count {
			obs.Latency[i].Count = obs.Latency[i-1].Count
		}
	}
	return obs, nil
}

// sorted returns the instances of version, by URL.
func (h *history) sorted(version string) []*instance {
	var out []*instance
	for t, in := range h.instances {
		if t.Version == version {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(x, y *instance) int { return cmp.Compare(x.target.URL, y.target.URL) })
	return out
}

// misses counts the misses whose time satisfies in, and returns the last one's error.
func misses(ms []miss, in func(time.Time) bool) (n int, last string) {
	for _, m := range ms {
		if in(m.at) {
			n, last = n+1, m.err
		}
	}
	return n, last
}

// bounds formats a bucket set's bounds for a warning.
func bounds(counts map[float64]float64) string {
	les := slices.Sorted(maps.Keys(counts))
	s := make([]string, len(les))
	for i, le := range les {
		s[i] = fmt.Sprint(le)
	}
	return "le=" + strings.Join(s, ",")
}

// window formats [start, end) for messages.
func window(start, end time.Time) string {
	return "[" + start.Format(time.RFC3339Nano) + ", " + end.Format(time.RFC3339Nano) + ")"
}
