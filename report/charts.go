package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Colours of the charts, matched by the page's legend (report.css).
// Translucent ones are NRGBA: color.RGBA is alpha-premultiplied.
var (
	colNew      = color.RGBA{0xd9, 0x5f, 0x02, 0xff} // the new version
	colNewLight = color.NRGBA{0xd9, 0x5f, 0x02, 0x80}
	colOld      = color.RGBA{0x1f, 0x5f, 0xbf, 0xff}  // the old version (or baseline) it is compared with
	colBase     = color.RGBA{0x60, 0x60, 0x60, 0xff}  // the pre-deploy baseline
	colLimit    = color.RGBA{0xc6, 0x28, 0x28, 0xff}  // the limit
	colBand     = color.NRGBA{0x1f, 0x5f, 0xbf, 0x38} // the ratio's confidence interval
	colSure     = color.RGBA{0x2e, 0x7d, 0x32, 0xff}  // the judge became sure the limit holds
	colWeight   = color.RGBA{0x6a, 0x3d, 0x9a, 0xff}
	colWeightBg = color.NRGBA{0x6a, 0x3d, 0x9a, 0x30}
	colGrid     = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

// Chart sizes: about as wide as a phone's screen, so that text keeps its
// size there, and three to a row on a laptop.
const (
	chartW = vg.Length(360)
	stepH  = vg.Length(300)
	wideW  = vg.Length(720)
	wideH  = vg.Length(180)
	// narrowH is the height of a wide chart redrawn for a phone.
	narrowH = vg.Length(200)
)

// sans is the charts' typeface: gonum's Liberation Sans, which the page
// asks the browser for with Arial (metrically the same) and any sans-serif
// as fallbacks.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// newPlot returns a plot styled for the page.
func newPlot() *plot.Plot {
	p := plot.New()
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 9)
		a.Tick.Label.Font = font.From(sans, 8)
		a.LineStyle.Width = vg.Points(0.5)
		a.Tick.LineStyle.Width = vg.Points(0.5)
		a.Padding = vg.Points(2)
	}
	p.Title.TextStyle.Font = font.From(sans, 10)
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = colGrid, colGrid
	g.Vertical.Width, g.Horizontal.Width = vg.Points(0.4), vg.Points(0.4)
	p.Add(g)
	return p
}

// svgOf renders plots stacked in one column, sharing their x axis, as an
// SVG element to inline in the page.
func svgOf(w, h vg.Length, plots ...*plot.Plot) (string, error) {
	c := vgsvg.New(w, h)
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(2), PadLeft: vg.Points(2), PadRight: vg.Points(8), PadY: vg.Points(6)}
	canvases := plot.Align(rows, tiles, draw.New(c))
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	return inline(b.String()), nil
}

// inline turns vgsvg's document into an element for an HTML page: no XML
// prelude or comment, sized by the page's CSS, with font fallbacks.
func inline(s string) string {
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	s = strings.Replace(s, "<svg ", `<svg class="chart" role="img" preserveAspectRatio="xMidYMid meet" `, 1)
	return strings.ReplaceAll(s, "font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")
}

// durationTicks labels a time axis in seconds since the start of the run
// ("+30s", "+5m", "+2h30m"), at round values of the largest unit that gives
// a few ticks.
type durationTicks struct{}

func (durationTicks) Ticks(lo, hi float64) []plot.Tick {
	unit := 1.0
	switch r := hi - lo; {
	case r >= 3*3600:
		unit = 3600
	case r >= 180:
		unit = 60
	}
	ts := plot.DefaultTicks{}.Ticks(lo/unit, hi/unit)
	for i := range ts {
		ts[i].Value *= unit
		if ts[i].Label != "" {
			ts[i].Label = offsetLabel(ts[i].Value)
		}
	}
	return ts
}

// offsetLabel writes seconds since the start as a short duration: "+2m30s",
// "+5m", "+1h", "+1.5s".
func offsetLabel(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Millisecond)
	out := d.String()
	if (d >= time.Minute || d <= -time.Minute) && strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	if d >= 0 {
		out = "+" + out
	}
	return out
}

// percentTicks labels a rate axis in percent.
type percentTicks struct{}

func (percentTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo*100, hi*100)
	for i := range ts {
		ts[i].Value /= 100
		if ts[i].Label != "" {
			ts[i].Label += "%"
		}
	}
	return ts
}

// ratioTicks labels a log axis of ratios at powers of two: 0.25, 0.5, 1, 2.
type ratioTicks struct{}

func (ratioTicks) Ticks(lo, hi float64) []plot.Tick {
	k0, k1 := math.Ceil(math.Log2(lo)-1e-9), math.Floor(math.Log2(hi)+1e-9)
	every := math.Max(1, math.Ceil((k1-k0+1)/6)) // at most six labels
	var ts []plot.Tick
	for k := k0; k <= k1; k++ {
		t := plot.Tick{Value: math.Exp2(k)}
		if math.Mod(k, every) == 0 {
			t.Label = ratioLabel(t.Value)
		}
		ts = append(ts, t)
	}
	if len(ts) < 2 { // a narrow range: label its ends as well
		ts = append(ts, plot.Tick{Value: lo, Label: ratioLabel(lo)}, plot.Tick{Value: hi, Label: ratioLabel(hi)})
	}
	return ts
}

// ratioLabel writes a ratio as "2×", "0.5×", "1/32×".
func ratioLabel(v float64) string {
	if v < 0.1 {
		return "1/" + strconv.FormatFloat(1/v, 'g', 3, 64) + "×"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + "×"
}

// widen returns a range around [lo, hi] that DefaultTicks accepts.
func widen(lo, hi float64) (float64, float64) {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return 0, 1
	}
	if hi > lo {
		return lo, hi
	}
	d := math.Max(math.Abs(lo)*0.1, 1e-6)
	return lo - d, hi + d
}

func secs(d time.Duration) float64 { return d.Seconds() }

func line(pts plotter.XYs, c color.Color, width float64, dashed bool) (*plotter.Line, error) {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return nil, err
	}
	l.Color, l.Width = c, vg.Points(width)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	return l, nil
}

// fewPoints is the most points a series has for each to be marked: with
// more, the line shows them well enough, and marks would only clutter it.
const fewPoints = 40

// mark draws a dot at each point.
func mark(p *plot.Plot, xy plotter.XYs, c color.Color) error {
	sc, err := plotter.NewScatter(xy)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Color, sc.GlyphStyle.Radius = c, vg.Points(1.8)
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	p.Add(sc)
	return nil
}

// vline is a vertical line at x across [lo, hi].
func vline(x, lo, hi float64, c color.Color) (*plotter.Line, error) {
	return line(plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}}, c, 1.2, true)
}

// stepChart draws one metric during one step: rates above — the new
// version per interval and since the deployment began, what it is compared
// with, the limit, the pre-deploy baseline — and below, the ratio the judge
// estimates with its confidence interval, the ratio's limit, and the
// moments the judge became sure either way.
func stepChart(mt *metric, pts []point, from, to time.Duration) (string, error) {
	x0, x1 := widen(secs(from), secs(to))

	rates := newPlot()
	rates.X.Min, rates.X.Max = x0, x1
	rates.X.Tick.Marker = durationTicks{}
	rates.Y.Tick.Marker = percentTicks{}
	rates.Y.Label.Text = "rate"
	var perIv, newCum, cmpCum, limit plotter.XYs
	lo, hi := math.Inf(1), math.Inf(-1)
	grow := func(v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	for _, p := range pts {
		x := secs(p.at)
		if !math.IsNaN(p.interval) {
			perIv = append(perIv, plotter.XY{X: x, Y: p.interval})
			grow(p.interval)
		}
		newCum = append(newCum, plotter.XY{X: x, Y: p.n.Value})
		cmpCum = append(cmpCum, plotter.XY{X: x, Y: p.n.Baseline})
		grow(p.n.Value)
		grow(p.n.Baseline)
		if p.n.Threshold > 0 {
			limit = append(limit, plotter.XY{X: x, Y: p.n.Threshold})
			grow(p.n.Threshold)
		}
	}
	if !math.IsNaN(mt.baseline) {
		grow(mt.baseline)
	}
	lo = math.Max(0, lo)
	rates.Y.Min, rates.Y.Max = widen(math.Min(lo, 0), hi*1.05)
	if !math.IsNaN(mt.baseline) {
		l, err := line(plotter.XYs{{X: x0, Y: mt.baseline}, {X: x1, Y: mt.baseline}}, colBase, 1, true)
		if err != nil {
			return "", err
		}
		l.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
		rates.Add(l)
	}
	for _, s := range []struct {
		xy     plotter.XYs
		c      color.Color
		w      float64
		dashed bool
	}{{perIv, colNewLight, 0.8, false}, {limit, colLimit, 1.2, true}, {cmpCum, colOld, 1.8, false}, {newCum, colNew, 1.8, false}} {
		if len(s.xy) == 0 {
			continue
		}
		l, err := line(s.xy, s.c, s.w, s.dashed)
		if err != nil {
			return "", err
		}
		if s.dashed {
			l.StepStyle = plotter.PreStep
		}
		rates.Add(l)
		if len(s.xy) <= fewPoints && !s.dashed {
			if err := mark(rates, s.xy, s.c); err != nil {
				return "", err
			}
		}
	}

	ratio := newPlot()
	ratio.X.Min, ratio.X.Max = x0, x1
	ratio.X.Tick.Marker = durationTicks{}
	ratio.X.Label.Text = "time since the run started"
	ratio.Y.Scale = plot.LogScale{}
	ratio.Y.Tick.Marker = ratioTicks{}
	ratio.Y.Label.Text = "new ÷ old"
	const floor, ceil = 1.0 / 32, 32.0
	clamp := func(v float64) float64 { return math.Min(ceil, math.Max(floor, v)) }
	var est, upper, lower plotter.XYs
	rlo, rhi := 1.0, 1.0
	var lim float64
	for _, p := range pts {
		if p.n.Ratio <= 0 {
			continue
		}
		x := secs(p.at)
		est = append(est, plotter.XY{X: x, Y: clamp(p.n.Ratio)})
		l, u := clamp(p.n.Lower), clamp(p.n.Upper)
		lower, upper = append(lower, plotter.XY{X: x, Y: l}), append(upper, plotter.XY{X: x, Y: u})
		rlo, rhi = math.Min(rlo, l), math.Max(rhi, u)
		lim = p.n.Limit
	}
	if lim > 0 {
		rlo, rhi = math.Min(rlo, lim), math.Max(rhi, lim)
	}
	ratio.Y.Min, ratio.Y.Max = clamp(rlo/1.15), clamp(rhi*1.15)
	if ratio.Y.Max <= ratio.Y.Min {
		ratio.Y.Min, ratio.Y.Max = floor, ceil
	}
	if len(est) > 0 {
		band := make(plotter.XYs, 0, 2*len(upper))
		band = append(band, upper...)
		for i := len(lower) - 1; i >= 0; i-- {
			band = append(band, lower[i])
		}
		poly, err := plotter.NewPolygon(band)
		if err != nil {
			return "", err
		}
		poly.Color, poly.LineStyle.Width = colBand, 0
		ratio.Add(poly)
		if lim > 0 {
			l, err := line(plotter.XYs{{X: x0, Y: lim}, {X: x1, Y: lim}}, colLimit, 1.2, true)
			if err != nil {
				return "", err
			}
			ratio.Add(l)
		}
		l, err := line(est, colOld, 1.6, false)
		if err != nil {
			return "", err
		}
		ratio.Add(l)
		if len(est) <= fewPoints {
			if err := mark(ratio, est, colOld); err != nil {
				return "", err
			}
		}
		if len(est) == 1 { // no band to draw: the interval as an error bar
			bar, err := line(plotter.XYs{lower[0], upper[0]}, colBand, 6, false)
			if err != nil {
				return "", err
			}
			ratio.Add(bar)
		}
	}
	for _, mk := range []struct {
		at time.Duration
		c  color.Color
	}{{mt.sure, colSure}, {mt.crossed, colLimit}} {
		if mk.at < 0 || mk.at < from || mk.at > to {
			continue
		}
		for _, p := range []*plot.Plot{rates, ratio} {
			l, err := vline(secs(mk.at), p.Y.Min, p.Y.Max, mk.c)
			if err != nil {
				return "", err
			}
			l.Dashes = nil
			p.Add(l)
		}
	}
	return svgOf(chartW, stepH, rates, ratio)
}

// weightChart draws the new version's share of traffic over the run.
func weightChart(m *model, w, h vg.Length) (string, error) {
	total := secs(m.end.Sub(m.start))
	p := newPlot()
	p.X.Min, p.X.Max = widen(0, total)
	p.X.Tick.Marker = durationTicks{}
	p.X.Label.Text = "time since the run started"
	p.Y.Min, p.Y.Max = 0, 100
	p.Y.Label.Text = fmt.Sprintf("%% of traffic on %s", m.rec.Runbook.Version)
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0%"}, {Value: 25, Label: "25%"}, {Value: 50, Label: "50%"}, {Value: 75, Label: "75%"}, {Value: 100, Label: "100%"}})
	xy := plotter.XYs{{X: 0, Y: 0}}
	for _, w := range m.weights {
		xy = append(xy, plotter.XY{X: secs(w.at), Y: w.weight})
	}
	xy = append(xy, plotter.XY{X: p.X.Max, Y: xy[len(xy)-1].Y})
	l, err := line(xy, colWeight, 1.6, false)
	if err != nil {
		return "", err
	}
	l.StepStyle = plotter.PostStep
	l.FillColor = colWeightBg
	p.Add(l)
	for _, s := range m.steps {
		v, err := vline(secs(s.from), 0, 100, colGrid)
		if err != nil {
			return "", err
		}
		v.Width = vg.Points(0.8)
		p.Add(v)
	}
	return svgOf(w, h, p)
}
