package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

const (
	// DefaultRetention is how much history a Collector keeps when its
	// Retention is zero.
	DefaultRetention = time.Hour
	// MaxLineBytes is the longest line a Collector reads whole; the rest
	// of a longer line is dropped.
	MaxLineBytes = 64 << 10
	// maxExample bounds the example lines a Collector keeps.
	maxExample = 1 << 10
)

// A Collector is the embedded default Source: it reads the instances' own
// log lines — the stdout and stderr of the processes a fleet started, or
// their log files — mines their templates as they arrive, and answers
// Patterns from what it kept, exactly, without a log store.
//
// Give each version's output to the Collector: [Collector.Writer] returns
// an io.Writer for a process's stdout or stderr (or a demo instance's
// log), [Collector.ReadLines] reads a file or pipe to its end, and
// [Collector.Add] adds one line at an explicit time. A line's time is its
// own time stamp when it has one ([Parse]), else the time it arrived.
//
// Lines at or above Level are mined; the others are only counted (they are
// the exposure of last resort). A version the Collector has never been
// given is missing data (verify.ErrNoData); one it has, that logged
// nothing in a window, logged zero lines.
//
// It keeps 12 bytes per line for Retention (an hour at 1,000 lines a
// second is about 43 MB), an example line per template and version, and
// its Miner.
//
// Set the fields before first use and do not change them after; do not
// copy a Collector after first use. A Collector is safe for concurrent
// use.
type Collector struct {
	// Level is the least level mined; nil means slog.LevelWarn.
	Level slog.Leveler
	// Retention is how much history is kept, measured back from the
	// latest line. Zero means DefaultRetention.
	Retention time.Duration
	// Miner mines the templates; nil means a Miner with the defaults.
	Miner *Miner

	mu       sync.Mutex
	miner    *Miner
	versions map[string]*versionLog
}

// versionLog is one version's lines: times in order, and each line's
// template (-1 for lines below the level).
type versionLog struct {
	times    []int64
	ids      []ID
	level    map[ID]slog.Level
	examples map[ID]string
}

func (c *Collector) setup() {
	if c.versions != nil {
		return
	}
	c.versions = map[string]*versionLog{}
	c.miner = c.Miner
	if c.miner == nil {
		c.miner = &Miner{}
	}
}

func (c *Collector) version(v string) *versionLog {
	c.setup()
	vl := c.versions[v]
	if vl == nil {
		vl = &versionLog{level: map[ID]slog.Level{}, examples: map[ID]string{}}
		c.versions[v] = vl
	}
	return vl
}

func (c *Collector) minLevel() slog.Level {
	if c.Level == nil {
		return slog.LevelWarn
	}
	return c.Level.Level()
}

func (c *Collector) retention() time.Duration {
	if c.Retention <= 0 {
		return DefaultRetention
	}
	return c.Retention
}

// Add adds one line of version's logs at time at, or at the line's own
// time stamp when it has one.
func (c *Collector) Add(version string, at time.Time, line string) {
	r := Parse(line)
	if !r.Time.IsZero() {
		at = r.Time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	vl := c.version(version)
	id := ID(-1)
	if r.Level >= c.minLevel() {
		id = c.miner.Add(r.Message)
		if lv, ok := vl.level[id]; !ok || r.Level > lv {
			vl.level[id] = r.Level
		}
		if _, ok := vl.examples[id]; !ok {
			vl.examples[id] = truncate(line, maxExample)
		}
	}
	t := at.UnixNano()
	i := len(vl.times)
	if i > 0 && t < vl.times[i-1] {
		i, _ = slices.BinarySearch(vl.times, t+1) // after lines of the same time
	}
	vl.times = slices.Insert(vl.times, i, t)
	vl.ids = slices.Insert(vl.ids, i, id)
	c.prune(vl)
}

// prune drops lines older than the retention, in chunks so that the cost
// is amortised.
func (c *Collector) prune(vl *versionLog) {
	cutoff := vl.times[len(vl.times)-1] - int64(c.retention())
	if len(vl.times) < 1024 || vl.times[len(vl.times)/4] >= cutoff {
		return
	}
	n, _ := slices.BinarySearch(vl.times, cutoff)
	vl.times = slices.Delete(vl.times, 0, n)
	vl.ids = slices.Delete(vl.ids, 0, n)
}

// Writer returns an io.WriteCloser that adds the lines written to it to
// version's logs, each at the time its newline arrives (or its own time
// stamp). Close adds a last line that has no newline. The writer is safe
// for concurrent use; lines written by one Write call stay whole. Calling
// Writer also makes version known: before any line, it has logged zero
// lines rather than having no data.
func (c *Collector) Writer(version string) io.WriteCloser {
	c.mu.Lock()
	c.version(version)
	c.mu.Unlock()
	return &lineWriter{c: c, version: version}
}

type lineWriter struct {
	c       *Collector
	version string
	mu      sync.Mutex
	partial []byte
	closed  bool
}

// ErrClosed is returned by a Collector's writer after Close.
var ErrClosed = errors.New("logs: writer closed")

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if room := MaxLineBytes - len(w.partial); room > 0 {
				w.partial = append(w.partial, p[:min(room, len(p))]...)
			}
			break
		}
		line := p[:i]
		if len(w.partial) > 0 {
			if room := MaxLineBytes - len(w.partial); room > 0 {
				w.partial = append(w.partial, line[:min(room, len(line))]...)
			}
			line, w.partial = w.partial, w.partial[:0]
		} else if len(line) > MaxLineBytes {
			line = line[:MaxLineBytes]
		}
		w.c.Add(w.version, time.Now(), string(bytes.TrimSuffix(line, []byte("\r"))))
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if len(w.partial) > 0 {
		w.c.Add(w.version, time.Now(), string(w.partial))
		w.partial = nil
	}
	return nil
}

// ReadLines reads r line by line to its end and adds each line to
// version's logs, at the time it is read (or its own time stamp). It
// returns nil at the end of r, and otherwise r's error or, checked
// between lines, ctx's, wrapped. A read that blocks is not interrupted by
// ctx: close r to stop it.
func (c *Collector) ReadLines(ctx context.Context, version string, r io.Reader) error {
	c.mu.Lock()
	c.version(version)
	c.mu.Unlock()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("logs: read %s's lines: %w", version, err)
		}
		line, err := readLine(br)
		if len(line) > 0 || err == nil {
			c.Add(version, time.Now(), line)
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("logs: read %s's lines: %w", version, err)
		}
	}
}

// readLine reads one line, without its newline, keeping at most
// MaxLineBytes of it.
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if room := MaxLineBytes - len(buf); room > 0 {
			buf = append(buf, frag[:min(room, len(frag))]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		buf = bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))
		return string(buf), err
	}
}

// Patterns implements Source: the templates of version q.Version's lines
// in [q.Start, q.End) at or above the Collector's level, with every line
// of the window counted in Lines. Template IDs are the Miner's, resolved
// at the time of the call. It fails with a plain error for an empty or
// inverted window, with an error wrapping verify.ErrNoData for a version
// it has never been given, and with ctx's error when ctx is done.
func (c *Collector) Patterns(ctx context.Context, q verify.Query) (Observation, error) {
	if err := ctx.Err(); err != nil {
		return Observation{}, fmt.Errorf("logs: patterns of %q: %w", q.Version, err)
	}
	if !q.End.After(q.Start) {
		return Observation{}, fmt.Errorf("logs: patterns of %s: empty or inverted window", q)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setup()
	vl := c.versions[q.Version]
	if vl == nil {
		return Observation{}, fmt.Errorf("logs: version %q has logged nothing to this collector: %w", q.Version, verify.ErrNoData)
	}
	lo, _ := slices.BinarySearch(vl.times, q.Start.UnixNano())
	hi, _ := slices.BinarySearch(vl.times, q.End.UnixNano())
	obs := Observation{Lines: float64(hi - lo)}
	if len(vl.times) > 0 && vl.times[0] > q.Start.UnixNano() && lo == 0 && c.pruned(vl, q.Start) {
		obs.Warnings = append(obs.Warnings, fmt.Sprintf("the window starts before the collector's retention (%s)", c.retention()))
	}
	idx := map[ID]int{}
	for i := lo; i < hi; i++ {
		raw := vl.ids[i]
		if raw < 0 {
			continue
		}
		id := c.miner.Resolve(raw)
		k, ok := idx[id]
		if !ok {
			k = len(obs.Patterns)
			idx[id] = k
			ex := vl.examples[id]
			if ex == "" {
				ex = vl.examples[raw]
			}
			obs.Patterns = append(obs.Patterns, Pattern{
				ID: strconv.Itoa(int(id)), Template: c.miner.Template(id),
				Example: ex, FirstSeen: time.Unix(0, vl.times[i]),
			})
		}
		p := &obs.Patterns[k]
		p.Count++
		if lv := vl.level[raw]; p.Count == 1 || lv > p.Level {
			p.Level = lv
		}
	}
	return obs, nil
}

// pruned reports whether lines before start may have been dropped.
func (c *Collector) pruned(vl *versionLog, start time.Time) bool {
	return len(vl.times) > 0 && time.Unix(0, vl.times[len(vl.times)-1]).Sub(start) > c.retention()
}

// truncate shortens s to n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
