package scrape

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/safedeploy/safedeploy/internal/counter"
	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/promcount"
)

// This file is the pure core: scrape rounds in, observations out. It does
// no I/O and reads no clock, so tests feed it synthetic rounds.
//
// It keeps what windows need, not the samples: per instance, each series'
// latest value (to count the next scrape's increase from), and per scrape
// the instance's running totals — requests, errors, business events and
// one per bucket bound — each the sum of its series' increases so far. A
// window's count is then the difference of two snapshots, as exact as
// summing the series' increases, at a cost that does not grow with the
// number of series.

// A round is one scrape of every listed target, stamped with the time it
// began: every sample it holds was read at or after that time.
type round struct {
	at      time.Time
	results []result
}

// A result is what scraping one target gave: its series, and what was
// wrong with some of them; or why it failed.
type result struct {
	target   Target
	series   map[string]point // by series identity (name and labels)
	problems []string         // series skipped, each saying why
	err      error
}

// A kind says which of the source's metrics a series belongs to.
type kind uint8

const (
	requests kind = iota
	business
	bucket
)

// kinds is a set of kinds.
type kinds uint8

func (k kinds) has(x kind) bool { return k&(1<<x) != 0 }

// A point is one series' value in one scrape, with what the series measures.
type point struct {
	kind   kind
	failed bool    // requests only: the series counts failed requests
	le     float64 // bucket only: the upper bound
	group  string  // bucket only: the histogram, as the series' identity without "le"
	value  float64
}

// Columns of an instance's totals; bucket bounds follow.
const (
	colRequests = iota
	colErrors
	colBusiness
	colBuckets
)

// A snapshot is an instance's totals at one successful scrape.
type snapshot struct {
	at     time.Time
	has    kinds     // the metrics the page had series of
	layout int32     // the bounds every histogram on the page had, in instance.layouts; -1 for none
	totals []float64 // by column; bounds first seen later are missing, and 0
}

// A miss is a failure at a time: a target that could not be scraped, or a
// round whose targets could not be listed.
type miss struct {
	at  time.Time
	err string
}

// A note is what was wrong with a page that was scraped: series skipped
// (drop: its latency cannot be trusted) or histograms that disagree.
type note struct {
	at   time.Time
	msg  string
	drop bool
}

// An instance is what the history knows of one target.
type instance struct {
	target Target
	// fromZero is set when the target was first listed after the
	// history's first round: it started since, so its first scrape counts
	// in full. A target listed from the first round may have served for
	// hours before; its first scrape is only where counting starts.
	fromZero bool
	last     map[string]float64 // each series' value at the newest successful scrape
	les      []float64          // bucket bounds, in the order first seen: column colBuckets+i is les[i]
	col      map[float64]int    // the column of each bound
	layouts  [][]float64        // the distinct bound sets pages have had, sorted
	totals   []float64          // the running totals, by column
	scrapes  []snapshot         // its successful scrapes, in order
	misses   []miss             // its failed scrapes, in order
	notes    []note             // what was wrong with its pages, in order
}

// A history is the scrapes a Source keeps. Its zero value is empty and
// ready, and names its metrics by their defaults.
type history struct {
	names     *promcount.Names // for messages; nil means the defaults
	rounds    []time.Time      // in order, without repeats
	added     int              // rounds ever added, pruned ones included
	unlisted  []miss           // rounds that could not list their targets
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
			in = &instance{target: res.target, fromZero: h.added > 0, last: map[string]float64{}, col: map[float64]int{}, totals: make([]float64, colBuckets)}
			h.instances[res.target] = in
		}
		if res.err != nil {
			in.misses = append(in.misses, miss{r.at, res.err.Error()})
			continue
		}
		in.record(r.at, res)
	}
	if n := len(h.rounds); n == 0 || r.at.After(h.rounds[n-1]) {
		h.rounds = append(h.rounds, r.at)
	}
	h.added++
}

// record adds a successful scrape's increases to the totals, and
// snapshots them.
func (in *instance) record(at time.Time, res result) {
	var has kinds
	groups := map[string][]float64{}
	for key, p := range res.series {
		inc := p.value // a series not seen before started since: it counts in full
		if prev, ok := in.last[key]; ok {
			inc = counter.Step(prev, p.value)
		}
		in.last[key] = p.value
		has |= kinds(1) << p.kind
		switch p.kind {
		case requests:
			in.totals[colRequests] += inc
			if p.failed {
				in.totals[colErrors] += inc
			}
		case business:
			in.totals[colBusiness] += inc
		case bucket:
			c, ok := in.col[p.le]
			if !ok {
				c = len(in.totals)
				in.col[p.le] = c
				in.les = append(in.les, p.le)
				in.totals = append(in.totals, 0)
			}
			in.totals[c] += inc
			groups[p.group] = append(groups[p.group], p.le)
		}
	}
	// A live process never drops a counter it has exposed: a series that
	// vanished went with a restart, and will come back from zero.
	if len(in.last) > len(res.series) {
		for key := range in.last {
			if _, ok := res.series[key]; !ok {
				delete(in.last, key)
			}
		}
	}
	for _, p := range res.problems {
		in.notes = append(in.notes, note{at: at, msg: p, drop: true})
	}
	layout := int32(-1)
	if len(groups) > 0 {
		shared, differ := sharedBounds(groups)
		if differ != "" {
			in.notes = append(in.notes, note{at: at, msg: differ})
		}
		layout = in.layout(shared)
	}
	in.scrapes = append(in.scrapes, snapshot{at: at, has: has, layout: layout, totals: slices.Clone(in.totals)})
}

// sharedBounds returns the bounds every histogram of a page has, sorted,
// and a message when they do not all have the same.
func sharedBounds(groups map[string][]float64) (shared []float64, differ string) {
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	shared = slices.Sorted(slices.Values(groups[names[0]]))
	for _, g := range names[1:] {
		shared = slices.DeleteFunc(shared, func(le float64) bool { return !slices.Contains(groups[g], le) })
	}
	for _, g := range names[1:] {
		if !slices.Equal(slices.Sorted(slices.Values(groups[g])), slices.Sorted(slices.Values(groups[names[0]]))) {
			differ = fmt.Sprintf("latency buckets differ between the page's histograms (%s has %s, %s has %s): kept the %d bounds all share",
				names[0], promcount.Bounds(groups[names[0]]), g, promcount.Bounds(groups[g]), len(shared))
			break
		}
	}
	return shared, differ
}

// layout returns the index of bounds in in.layouts, adding it if new.
func (in *instance) layout(bounds []float64) int32 {
	for i, l := range in.layouts {
		if slices.Equal(l, bounds) {
			return int32(i)
		}
	}
	in.layouts = append(in.layouts, bounds)
	return int32(len(in.layouts) - 1)
}

// addUnlisted records a round that could not list its targets.
func (h *history) addUnlisted(at time.Time, err error) {
	h.unlisted = append(h.unlisted, miss{at, err.Error()})
}

// prune forgets what happened before horizon, keeping for each instance
// its last scrape before it, from which the next window counts.
func (h *history) prune(horizon time.Time) {
	before := func(t time.Time) bool { return t.Before(horizon) }
	h.rounds = h.rounds[countFunc(h.rounds, before):]
	h.unlisted = dropBefore(h.unlisted, func(m miss) time.Time { return m.at }, horizon)
	for target, in := range h.instances {
		old := countFunc(in.scrapes, func(s snapshot) bool { return before(s.at) })
		in.misses = dropBefore(in.misses, func(m miss) time.Time { return m.at }, horizon)
		in.notes = dropBefore(in.notes, func(n note) time.Time { return n.at }, horizon)
		if old == len(in.scrapes) && len(in.misses) == 0 {
			delete(h.instances, target) // gone for longer than the retention
			continue
		}
		if old > 1 {
			in.scrapes = slices.Delete(in.scrapes, 0, old-1)
		}
	}
}

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

// metrics returns the names of the metrics read.
func (h *history) metrics() *promcount.Names {
	if h.names == nil {
		h.names, _ = promcount.Metrics{}.Compile()
	}
	return h.names
}

// in returns the scrapes of in in (from, to].
func (in *instance) in(from, to time.Time) []snapshot {
	i := sort.Search(len(in.scrapes), func(i int) bool { return in.scrapes[i].at.After(from) })
	j := sort.Search(len(in.scrapes), func(i int) bool { return in.scrapes[i].at.After(to) })
	return in.scrapes[i:j]
}

// upTo returns the last scrape of in at or before t, or false.
func (in *instance) upTo(t time.Time) (snapshot, bool) {
	i := sort.Search(len(in.scrapes), func(i int) bool { return in.scrapes[i].at.After(t) })
	if i == 0 {
		return snapshot{}, false
	}
	return in.scrapes[i-1], true
}

// observe returns what the instances of version served over [start, end):
// the difference of their totals between two rounds, the first at or after
// start and the first at or after end (the newest if none is), summed.
// Each instance counts from its last scrape at or before the first round
// to its last at or before the second. See the package documentation.
func (h *history) observe(version string, start, end time.Time) (verify.Observation, error) {
	var obs verify.Observation
	where := "version " + verify.Query{Version: version, Start: start, End: end}.String()
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
	inWindow := func(t time.Time) bool { return t.After(from) && !t.After(to) }
	if n, last := misses(h.unlisted, inWindow); n > 0 {
		obs.Warnings = append(obs.Warnings, fmt.Sprintf("%d scrape round(s) in the window could not list the targets, last: %s", n, last))
	}

	var (
		covered, missed int
		lastMiss        string
		mine, all       kinds // the metrics the version's pages, and all pages, had in the window
		pages           int   // pages scraped in the window, all versions
		lat             promcount.Buckets
	)
	for _, inst := range h.sorted() {
		scrapes := inst.in(from, to)
		pages += len(scrapes)
		for _, sn := range scrapes {
			all |= sn.has
		}
		if inst.target.Version != version {
			continue
		}
		if n, last := misses(inst.misses, inWindow); n > 0 {
			missed += n
			lastMiss = last
			obs.Warnings = append(obs.Warnings, fmt.Sprintf("%d failed scrape(s) in the window, last: %s", n, last))
		}
		if len(scrapes) == 0 {
			continue
		}
		covered++
		for _, n := range inst.notes {
			if !inWindow(n.at) {
				continue
			}
			if n.drop {
				lat.Drop(fmt.Sprintf("%s: %s", inst.target.URL, n.msg))
			} else {
				obs.Warnings = append(obs.Warnings, fmt.Sprintf("%s: %s", inst.target.URL, n.msg))
			}
		}
		var open []float64 // nil: from zero
		if sn, ok := inst.upTo(from); ok {
			open = sn.totals
		} else if !inst.fromZero {
			open = inst.scrapes[0].totals // its first scrape is where counting starts
		}
		closing, _ := inst.upTo(to)
		delta := func(c int) float64 {
			d := 0.0
			if c < len(closing.totals) {
				d = closing.totals[c]
			}
			if c < len(open) {
				d -= open[c]
			}
			return d
		}
		obs.Requests += delta(colRequests)
		obs.Errors += delta(colErrors)
		obs.Business += delta(colBusiness)
		var bounds []float64
		layouts := 0
		for _, sn := range scrapes {
			mine |= sn.has
			if sn.layout < 0 {
				continue
			}
			l := inst.layouts[sn.layout]
			if layouts == 0 {
				bounds = slices.Clone(l)
			} else {
				bounds = slices.DeleteFunc(bounds, func(le float64) bool { _, found := slices.BinarySearch(l, le); return !found })
			}
			layouts++
		}
		if layouts > 0 && len(bounds) == 0 {
			lat.Drop(fmt.Sprintf("%s: its histograms had no bounds in common across the window", inst.target.URL))
		}
		for _, le := range bounds {
			lat.Add(inst.target.URL, le, delta(inst.col[le]))
		}
	}
	if covered == 0 {
		why := "no instance of it was scraped in the window"
		if missed > 0 {
			why = fmt.Sprintf("%d scrape(s) of its instances in the window failed, last: %s", missed, lastMiss)
		}
		return verify.Observation{}, fmt.Errorf("scrape: %s: %s: %w", where, why, verify.ErrNoData)
	}
	n := h.metrics()
	notFound := func(use, metric string) *verify.MetricNotFoundError {
		return &verify.MetricNotFoundError{Use: use, Metric: metric, Where: fmt.Sprintf("no series on the %d page(s) scraped in the window, of any version", pages)}
	}
	if !mine.has(requests) {
		if !all.has(requests) {
			return verify.Observation{}, fmt.Errorf("scrape: %s: %w", where, notFound(verify.UseRequests, n.Requests))
		}
		return verify.Observation{}, fmt.Errorf("scrape: %s: its instances exposed no series of %s in the window: %w", where, n.Requests, verify.ErrNoData)
	}
	if n.Business != "" && !all.has(business) {
		obs.Warnings = append(obs.Warnings, notFound(verify.UseBusiness, n.Business).Error())
	}
	if !all.has(bucket) {
		obs.Warnings = append(obs.Warnings, notFound(verify.UseLatency, n.Latency).Error())
	}
	var warnings []string
	obs.Latency, warnings = lat.Histogram()
	obs.Warnings = append(obs.Warnings, warnings...)
	return obs, nil
}

// sorted returns the instances, by URL and version.
func (h *history) sorted() []*instance {
	out := make([]*instance, 0, len(h.instances))
	for _, in := range h.instances {
		out = append(out, in)
	}
	slices.SortFunc(out, func(x, y *instance) int {
		return cmp.Or(cmp.Compare(x.target.URL, y.target.URL), cmp.Compare(x.target.Version, y.target.Version))
	})
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
