// Command logs mines log templates and finds the error patterns a new
// version brings, with package
// [github.com/safedeploy/safedeploy/verify/logs]:
//
//	go run ./examples/logs app.log                     # templates by count
//	go run ./examples/logs -json app.log               # one JSON object per line
//	go run ./examples/logs -baseline old.log -canary new.log
//	go run ./examples/logs -baseline old.log -canary new.log -json
//
// With one file (or standard input) it mines the template of every line,
// at every level. Without -json it prints the templates, most frequent
// first, with their counts; with -json it prints, for each input line in
// order, {"template": …, "id": …, "level": …}, the template being the one
// the line belongs to at the end of the run.
//
// With -baseline and -canary it mines the warning and error lines of both
// (the baseline's first) and reports each template the canary logs at more
// than -max-ratio times the baseline's rate per line logged, with the
// evidence the new-pattern test needs ([logs.Compare]): as text, or with
// -json one object per finding (template, old_count, new_count, example,
// level, evidence). It exits 1 when it finds any, 0 when none, and 2 when
// an input cannot be read or the flags are wrong.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/safedeploy/safedeploy/verify/logs"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the command, testable: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logs [-json] [FILE]\n       logs -baseline OLD.log -canary NEW.log [-json] [flags]")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print JSON: one object per input line, or per new pattern")
	baseline := fs.String("baseline", "", "the old version's log file")
	canary := fs.String("canary", "", "the new version's log file")
	levelName := fs.String("level", "warn", "with -baseline: the least level compared (debug, info, warn, error)")
	maxRatio := fs.Float64("max-ratio", logs.DefaultMaxRatio, "with -baseline: the canary's rate of a template may be this many times the baseline's")
	alpha := fs.Float64("alpha", logs.DefaultAlpha, "with -baseline: the false-alarm bound, across templates")
	minCount := fs.Float64("min-count", logs.DefaultMinCount, "with -baseline: the least canary lines of a new pattern")
	similarity := fs.Float64("similarity", logs.DefaultSimilarity, "the share of a message's tokens that must equal a template's")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*levelName)); err != nil {
		fmt.Fprintf(stderr, "logs: -level %q: %v\n", *levelName, err)
		return 2
	}
	if !(*similarity > 0 && *similarity <= 1) {
		fmt.Fprintf(stderr, "logs: -similarity %g: must be in (0, 1]\n", *similarity)
		return 2
	}
	m := &logs.Miner{Similarity: *similarity}
	if *baseline != "" || *canary != "" {
		if *baseline == "" || *canary == "" || fs.NArg() > 0 {
			fmt.Fprintln(stderr, "logs: -baseline and -canary go together, without other files")
			return 2
		}
		p := logs.Policy{Level: level, MaxRatio: *maxRatio, Alpha: *alpha, MinCount: *minCount}
		if err := p.Validate(); err != nil {
			fmt.Fprintf(stderr, "logs: %v\n", err)
			return 2
		}
		return compare(m, p, *baseline, *canary, *asJSON, stdout, stderr)
	}
	in, name := stdin, "standard input"
	switch fs.NArg() {
	case 0:
	case 1:
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(stderr, "logs: %v\n", err)
			return 2
		}
		defer f.Close()
		in, name = f, fs.Arg(0)
	default:
		fmt.Fprintln(stderr, "logs: one file at a time (or -baseline and -canary)")
		return 2
	}
	return templates(m, in, name, *asJSON, stdout, stderr)
}

// eachLine calls f with every line of r, without its newline.
func eachLine(r io.Reader, f func(line string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			f(line)
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
	}
}

// templates mines every line of in and prints the templates.
func templates(m *logs.Miner, in io.Reader, name string, asJSON bool, stdout, stderr io.Writer) int {
	type line struct {
		id    logs.ID
		level slog.Level
	}
	var lines []line
	err := eachLine(in, func(s string) {
		r := logs.Parse(s)
		lines = append(lines, line{m.Add(r.Message), r.Level})
	})
	if err != nil {
		fmt.Fprintf(stderr, "logs: reading %s: %v\n", name, err)
		return 2
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, l := range lines {
			id := m.Resolve(l.id)
			enc.Encode(struct {
				Template string     `json:"template"`
				ID       logs.ID    `json:"id"`
				Level    slog.Level `json:"level"`
			}{m.Template(id), id, l.level})
		}
		return 0
	}
	counts := map[logs.ID]int{}
	for _, l := range lines {
		counts[m.Resolve(l.id)]++
	}
	ids := make([]logs.ID, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b logs.ID) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	fmt.Fprintf(w, "%d lines, %d templates\n", len(lines), len(ids))
	for _, id := range ids {
		fmt.Fprintf(w, "%8d  %s\n", counts[id], m.Template(id))
	}
	return 0
}

// sample reads a file's lines: all counted, those at or above level mined.
func sample(m *logs.Miner, path string, level slog.Level) (logs.Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return logs.Sample{}, err
	}
	defer f.Close()
	type hit struct {
		id    logs.ID
		level slog.Level
		at    time.Time
		text  string
	}
	var hits []hit
	lines := 0
	err = eachLine(f, func(s string) {
		lines++
		if r := logs.Parse(s); r.Level >= level {
			hits = append(hits, hit{m.Add(r.Message), r.Level, r.Time, s})
		}
	})
	if err != nil {
		return logs.Sample{}, fmt.Errorf("reading %s: %w", path, err)
	}
	s := logs.Sample{Exposure: float64(lines), Observation: logs.Observation{Lines: float64(lines)}}
	idx := map[logs.ID]int{}
	for _, h := range hits {
		k, ok := idx[h.id]
		if !ok {
			k = len(s.Patterns)
			idx[h.id] = k
			s.Patterns = append(s.Patterns, logs.Pattern{ID: strconv.Itoa(int(h.id)), Level: h.level, Example: h.text, FirstSeen: h.at})
		}
		p := &s.Patterns[k]
		p.Count++
		p.Level = max(p.Level, h.level)
	}
	return s, nil
}

// resolve re-keys a sample's patterns by the templates they belong to at
// the end of the run, merging those that became one.
func resolve(m *logs.Miner, s logs.Sample) logs.Sample {
	byID := map[string]int{}
	var out []logs.Pattern
	for _, p := range s.Patterns {
		raw, _ := strconv.Atoi(p.ID)
		id := m.Resolve(logs.ID(raw))
		p.ID, p.Template = strconv.Itoa(int(id)), m.Template(id)
		if k, ok := byID[p.ID]; ok {
			out[k].Count += p.Count
			out[k].Level = max(out[k].Level, p.Level)
			continue
		}
		byID[p.ID] = len(out)
		out = append(out, p)
	}
	s.Patterns = out
	return s
}

// compare reports the canary's new patterns against the baseline.
func compare(m *logs.Miner, p logs.Policy, baseline, canary string, asJSON bool, stdout, stderr io.Writer) int {
	level := p.Level.Level()
	old, err := sample(m, baseline, level)
	if err != nil {
		fmt.Fprintf(stderr, "logs: %v\n", err)
		return 2
	}
	cur, err := sample(m, canary, level)
	if err != nil {
		fmt.Fprintf(stderr, "logs: %v\n", err)
		return 2
	}
	old, cur = resolve(m, old), resolve(m, cur)
	findings, err := logs.Compare(p, old, cur)
	if err != nil {
		fmt.Fprintf(stderr, "logs: %v\n", err)
		return 2
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, f := range findings {
			enc.Encode(struct {
				Template string     `json:"template"`
				OldCount float64    `json:"old_count"`
				NewCount float64    `json:"new_count"`
				Example  string     `json:"example"`
				Level    slog.Level `json:"level"`
				Evidence float64    `json:"evidence"`
			}{f.Template, f.OldCount, f.NewCount, f.Example, f.Level, f.Evidence})
		}
	} else {
		fmt.Fprintf(w, "baseline %s: %.0f lines; canary %s: %.0f lines; %d new pattern(s)\n", baseline, old.Lines, canary, cur.Lines, len(findings))
		for _, f := range findings {
			fmt.Fprintf(w, "%s (old %.0f of %.0f lines, new %.0f of %.0f): %s\n    e.g. %s\n",
				f.Level, f.OldCount, old.Lines, f.NewCount, cur.Lines, f.Template, f.Example)
		}
	}
	if len(findings) > 0 {
		return 1
	}
	return 0
}
