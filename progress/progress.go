// Package progress shows a deployment to the people watching it at a
// terminal: the events as lines, as deploy.Printer writes them, and below
// them one line that updates in place with the current step, its share of
// traffic, the time left in its window, and the judge's current ratios
// with their confidence intervals against their limits, and how many new
// error patterns the step's logs showed, if any:
//
//	▶ canary 25% · 25% on v2 · 3m12s left · err 1.02× [0.71–1.48] ≤2 · p95 0.97× [0.80–1.18] ≤2
//
// When the output is not a terminal (a file, a pipe, CI), it writes plain
// lines only: exactly deploy.Printer's.
package progress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/safedeploy/safedeploy/deploy"
)

// New returns an Observer that shows a run's progress on w: with an
// updating status line when w is a terminal, as plain lines otherwise.
// Write errors are ignored: progress output must never stop a deployment.
func New(w io.Writer) deploy.Observer {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return Live(w, func() int {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
				return cols
			}
			return 80
		})
	}
	return deploy.Printer(w)
}

// Live returns an Observer that writes deploy.Printer's lines to w, the
// judge's measurements not as lines but on a status line below them that
// it redraws in place (with a carriage return and an ANSI erase-line) at
// each event and every second while a step is observed. width returns the
// terminal's width in columns; the status line is cut to it. The status
// line is erased when the run ends, and the ticking stops then.
func Live(w io.Writer, width func() int) deploy.Observer {
	l := &live{w: w, width: width}
	l.lines = deploy.Printer(&l.buf)
	return l
}

type live struct {
	w     io.Writer
	width func() int

	mu     sync.Mutex
	buf    bytes.Buffer
	lines  deploy.Observer // deploy.Printer into buf
	status status
	shown  bool          // a status line is on the screen
	tick   chan struct{} // closed to stop the ticker; nil when none runs
}

func (l *live) Observe(ctx context.Context, e deploy.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status.update(e)
	if e.Kind != deploy.KindMeasurement {
		l.lines.Observe(ctx, e)
	}
	switch {
	case e.Kind == deploy.KindStep && l.tick == nil:
		l.tick = make(chan struct{})
		go l.ticker(l.tick)
	case e.Kind == deploy.KindOutcome:
		l.status = status{}
		if l.tick != nil {
			close(l.tick)
			l.tick = nil
		}
	}
	l.draw(time.Now())
}

// ticker redraws the status line every second, so that the time left
// counts down between events.
func (l *live) ticker(stop chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			l.mu.Lock()
			l.draw(now)
			l.mu.Unlock()
		}
	}
}

// draw erases the status line, writes the lines waiting in buf, and draws
// the status line again.
func (l *live) draw(now time.Time) {
	var out bytes.Buffer
	if l.shown {
		out.WriteString("\r\x1b[2K")
	}
	out.Write(l.buf.Bytes())
	l.buf.Reset()
	s := l.status.line(now, l.width())
	out.WriteString(s)
	l.shown = s != ""
	l.w.Write(out.Bytes())
}

// status is what the status line shows.
type status struct {
	step    string
	weight  string
	started time.Time
	window  time.Duration
	ratios  []string
	// patterns counts the new error patterns found in the step's logs.
	patterns int
}

// stepRE reads the executor's step message: "25% on v2; observing for 5m0s".
var stepRE = regexp.MustCompile(`^([0-9.]+)% on (\S+); \w+ for (\S+)$`)

func (s *status) update(e deploy.Event) {
	switch e.Kind {
	case deploy.KindStep:
		*s = status{step: e.Step, started: e.Time}
		if m := stepRE.FindStringSubmatch(e.Message); m != nil {
			s.weight = m[1] + "% on " + m[2]
			s.window, _ = time.ParseDuration(m[3])
		}
	case deploy.KindPattern:
		s.patterns++
	case deploy.KindMeasurement:
		if e.Verdict == nil {
			return
		}
		s.ratios = s.ratios[:0]
		for _, m := range e.Verdict.Measurements {
			if m.Ratio <= 0 {
				continue
			}
			r := fmt.Sprintf("%s %.3g× [%.3g–%.3g] %s%.3g", short(m.Metric), m.Ratio, m.Lower, m.Upper, bound(m.Limit), m.Limit)
			if m.Failed {
				r = "\x1b[31m" + r + " ✗\x1b[0m"
			}
			s.ratios = append(s.ratios, r)
		}
	}
}

// line formats the status line for a terminal cols wide: empty when no
// step is under way.
func (s status) line(now time.Time, cols int) string {
	if s.step == "" {
		return ""
	}
	parts := []string{"▶ " + s.step}
	if s.weight != "" {
		parts = append(parts, s.weight)
	}
	if s.window > 0 {
		left := max(s.window-now.Sub(s.started), 0)
		parts = append(parts, left.Round(time.Second).String()+" left")
	}
	parts = append(parts, s.ratios...)
	if s.patterns > 0 {
		parts = append(parts, fmt.Sprintf("\x1b[31m%d new log pattern(s) ✗\x1b[0m", s.patterns))
	}
	return cut(strings.Join(parts, " · "), cols-1)
}

// short names a metric for the status line.
func short(metric string) string {
	switch metric {
	case "error-rate":
		return "err"
	case "business-rate":
		return "biz"
	}
	return strings.TrimPrefix(metric, "latency-")
}

// bound is "≤" for a ceiling, "≥" for a floor (a limit below 1).
func bound(limit float64) string {
	if limit < 1 {
		return "≥"
	}
	return "≤"
}

// cut shortens s to n visible characters, not counting ANSI colour codes,
// and ends colour if it cut inside it.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	var b strings.Builder
	visible := 0
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "\x1b[") {
			j := strings.IndexByte(s[i:], 'm')
			if j < 0 {
				break
			}
			b.WriteString(s[i : i+j+1])
			i += j + 1
			continue
		}
		if visible == n {
			if visible > 0 {
				str := b.String()
				_, size := utf8.DecodeLastRuneInString(str)
				b.Reset()
				b.WriteString(str[:len(str)-size] + "…")
			}
			b.WriteString("\x1b[0m")
			return b.String()
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += size
		visible++
	}
	return b.String()
}
