package logs

import (
	"bufio"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readLines reads a file's lines.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// compareLines mines old's lines, then new's, as examples/logs does, and
// returns the findings of Compare with the lines as exposures.
func compareLines(p Policy, old, cur []string) []Finding {
	m := &Miner{}
	level := p.WithDefaults().Level.Level()
	build := func(lines []string) (Sample, []ID, []slog.Level, []string) {
		var ids []ID
		var levels []slog.Level
		var ex []string
		for _, l := range lines {
			r := Parse(l)
			if r.Level >= level {
				ids = append(ids, m.Add(r.Message))
				levels = append(levels, r.Level)
				ex = append(ex, l)
			}
		}
		return Sample{Exposure: float64(len(lines)), Observation: Observation{Lines: float64(len(lines))}}, ids, levels, ex
	}
	so, oids, olv, oex := build(old)
	sn, nids, nlv, nex := build(cur)
	fill := func(s *Sample, ids []ID, lv []slog.Level, ex []string) {
		idx := map[ID]int{}
		for i, raw := range ids {
			id := m.Resolve(raw)
			k, ok := idx[id]
			if !ok {
				k = len(s.Patterns)
				idx[id] = k
				s.Patterns = append(s.Patterns, Pattern{ID: strconv.Itoa(int(id)), Template: m.Template(id), Level: lv[i], Example: ex[i]})
			}
			s.Patterns[k].Count++
			s.Patterns[k].Level = max(s.Patterns[k].Level, lv[i])
		}
	}
	fill(&so, oids, olv, oex)
	fill(&sn, nids, nlv, nex)
	f, err := Compare(p, so, sn)
	if err != nil {
		panic(err)
	}
	return f
}

// injected are new error lines, one of which a faulty canary starts to log.
var injected = []string{
	"ERROR connection pool exhausted for shard %d",
	"FATAL nil pointer dereference in basket.Total (order %d)",
	"WARN retry budget exceeded for upstream payments-%d",
}

// inject inserts n lines of a new error template at random places in
// lines, and returns the result and the template's marker word.
func inject(rng *rand.Rand, lines []string, n int) ([]string, string) {
	k := rng.IntN(len(injected))
	out := slices.Clone(lines)
	for range n {
		i := rng.IntN(len(out) + 1)
		out = slices.Insert(out, i, fmt.Sprintf(injected[k], rng.IntN(1000)))
	}
	marker, _, _ := strings.Cut(injected[k], "%d")
	return out, marker
}

// detected reports whether a finding is the injected template, marker
// being the start of its lines, and how many others there are.
func detected(fs []Finding, marker string) (hit bool, others int) {
	for _, f := range fs {
		if strings.HasPrefix(f.Example, marker) {
			hit = true
		} else {
			others++
		}
	}
	return hit, others
}

// bootstrap draws n lines from lines at random, with replacement: the
// same mix of templates, without the order.
func bootstrap(rng *rand.Rand, lines []string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = lines[rng.IntN(len(lines))]
	}
	return out
}

// TestLoghubNewPatterns measures the new-pattern test on the Loghub 2k
// samples (their raw .log files): false alarms when nothing changed, and
// detection of an injected new error template. Set SAFEDEPLOY_LOGHUB.
func TestLoghubNewPatterns(t *testing.T) {
	dir := os.Getenv(loghubEnv)
	if dir == "" {
		t.Skipf("set %s to a checkout of the Loghub 2k samples (github.com/logpai/loghub) to measure the new-pattern test", loghubEnv)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range drainGA {
			if !yield(k) {
				return
			}
		}
	})
	const trials = 50
	rng := rand.New(rand.NewPCG(1, 2))
	var p Policy
	var report strings.Builder
	fmt.Fprintf(&report, "%-12s %5s | %9s %9s | %13s %13s | %12s %12s | %12s %12s\n", "dataset", "warn+",
		"time FA", "random FA", "time+1%", "time+0.1%", "10k+0.1%", "10k+1%", "100k+0.1%", "100k 0-FA")
	var tot [9]float64
	var canary [3]float64
	for _, name := range names {
		lines := readLines(t, filepath.Join(dir, name, name+"_2k.log"))
		warn := 0
		for _, l := range lines {
			if Parse(l).Level >= slog.LevelWarn {
				warn++
			}
		}
		half := len(lines) / 2
		old, cur := lines[:half], lines[half:]
		// Time split: the first half against the second, as a baseline
		// window against the window after a deployment of nothing.
		timeFindings := compareLines(p, old, cur)
		timeFA := len(timeFindings)
		for _, f := range timeFindings {
			t.Logf("%s, first half against second: %s (old %.0f, new %.0f)", name, f.Template, f.OldCount, f.NewCount)
		}
		// Random splits: as a concurrent control sees it.
		randomFA := 0
		for range trials {
			perm := rng.Perm(len(lines))
			var a, b []string
			for i, j := range perm {
				if i%2 == 0 {
					a = append(a, lines[j])
				} else {
					b = append(b, lines[j])
				}
			}
			if len(compareLines(p, a, b)) > 0 {
				randomFA++
			}
		}
		// Injection into the real second half: 1% (10 lines) and 0.1% (1).
		var hit1, hit01 int
		for range trials {
			c, marker := inject(rng, cur, len(cur)/100)
			if h, _ := detected(compareLines(p, old, c), marker); h {
				hit1++
			}
			c, marker = inject(rng, cur, len(cur)/1000)
			if h, _ := detected(compareLines(p, old, c), marker); h {
				hit01++
			}
		}
		// Larger windows, drawn from the sample's own mix of lines.
		var hitK01, hitK1, hitM01, faM int
		for range trials / 5 {
			o, c := bootstrap(rng, lines, 10_000), bootstrap(rng, lines, 10_000)
			ci, marker := inject(rng, c, 10)
			if h, _ := detected(compareLines(p, o, ci), marker); h {
				hitK01++
			}
			ci, marker = inject(rng, c, 100)
			if h, _ := detected(compareLines(p, o, ci), marker); h {
				hitK1++
			}
			o, c = bootstrap(rng, lines, 100_000), bootstrap(rng, lines, 100_000)
			if len(compareLines(p, o, c)) > 0 {
				faM++
			}
			ci, marker = inject(rng, c, 100)
			if h, _ := detected(compareLines(p, o, ci), marker); h {
				hitM01++
			}
		}
		// A canary at 5% of the traffic: the old version's lines 19 times
		// the new one's.
		var hitC1, hitC01, faC int
		for range trials / 5 {
			o, c := bootstrap(rng, lines, 19_000), bootstrap(rng, lines, 1_000)
			if len(compareLines(p, o, c)) > 0 {
				faC++
			}
			ci, marker := inject(rng, c, 10)
			if h, _ := detected(compareLines(p, o, ci), marker); h {
				hitC1++
			}
			o, c = bootstrap(rng, lines, 190_000), bootstrap(rng, lines, 10_000)
			ci, marker = inject(rng, c, 10)
			if h, _ := detected(compareLines(p, o, ci), marker); h {
				hitC01++
			}
		}
		canary[0] += float64(hitC1) / (trials / 5)
		canary[1] += float64(hitC01) / (trials / 5)
		canary[2] += float64(faC) / (trials / 5)
		row := [9]float64{float64(warn), float64(timeFA), float64(randomFA) / trials, float64(hit1) / trials, float64(hit01) / trials,
			float64(hitK01) / (trials / 5), float64(hitK1) / (trials / 5), float64(hitM01) / (trials / 5), float64(faM) / (trials / 5)}
		for i := range tot {
			tot[i] += row[i]
		}
		fmt.Fprintf(&report, "%-12s %5.0f | %9.0f %9.2f | %13.2f %13.2f | %12.2f %12.2f | %12.2f %12.2f\n", name, row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])
	}
	n := float64(len(names))
	fmt.Fprintf(&report, "%-12s %5.0f | %9.2f %9.3f | %13.2f %13.2f | %12.2f %12.2f | %12.2f %12.3f\n", "mean", tot[0]/n, tot[1]/n, tot[2]/n, tot[3]/n, tot[4]/n, tot[5]/n, tot[6]/n, tot[7]/n, tot[8]/n)
	fmt.Fprintf(&report, "5%% canary (old lines 19x the new): injected at 1%% of 1,000 new lines found %.2f, at 0.1%% of 10,000 found %.2f; any finding without injection %.3f\n", canary[0]/n, canary[1]/n, canary[2]/n)
	t.Log("\nwarn+: warning and error lines of 2000; time FA: findings, first half against second; random FA: share of random halvings with any finding;\n" +
		"time+x%: share of injections of a new error at x% of the second half found; 10k/100k: lines per side drawn from the sample\n" + report.String())
	if tot[2]/n > p.WithDefaults().Alpha*3 {
		t.Errorf("random splits: false alarms in %.1f%% of comparisons, want about Alpha or less", 100*tot[2]/n)
	}
}
