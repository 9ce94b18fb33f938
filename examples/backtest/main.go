// Command backtest replays a recorded deployment through the default
// rollback policy at full speed, and prints what it would have decided:
// one line per evaluated interval (time, verdict, reason), then the final
// verdict with its numbers.
//
//	go run ./examples/backtest -data replay.csv
//	go run ./examples/backtest -data replay.csv -json
//
// The file is in the replay format of package verify/backtest (go doc
// ./verify/backtest): CSV with a header, one row per interval and arm,
// columns time, arm (baseline or canary), requests, errors, and optionally
// business and le=<seconds> histogram buckets.
//
// With -json it prints one JSON object per evaluated interval instead:
// time (the interval's time from the file, RFC 3339), verdict (observe,
// rollback, complete or inconclusive), reason, measurements and line; the
// replay stops at the first rollback, and the end-of-window conclusion, if
// reached, is the last object, marked "final": true.
//
// It exits 0 whatever the verdict; 1 when the file cannot be read or
// replayed, with a message on stderr naming the line at fault (or, for a
// file that reads but cannot be replayed, such as one with no baseline
// rows, saying why); and 2 for bad flags.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/safedeploy/safedeploy/verify/backtest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: it parses args, replays the file and writes the
// report to stdout and problems to stderr. It returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "the replay `file` (CSV; the format is in go doc ./verify/backtest)")
	asJSON := fs.Bool("json", false, "print one JSON object per evaluated interval")
	weight := fs.Float64("weight", 0, "the `percentage` of traffic the canary was meant to get; 0 means the share it got")
	length := fs.Duration("interval", 0, "how long each row's interval lasts; 0 means the spacing of the file's times (1m for a file with one time)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: backtest -data FILE.csv [-json] [-weight PERCENT] [-interval DURATION]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case *data == "" || fs.NArg() > 0:
		fs.Usage()
		return 2
	case !(*weight >= 0 && *weight <= 100):
		fmt.Fprintf(stderr, "backtest: -weight %g: want a percentage in (0, 100], or 0 for the share the canary got\n", *weight)
		return 2
	case *length < 0:
		fmt.Fprintf(stderr, "backtest: -interval %s: want a positive duration, or 0 for the spacing of the file's times\n", *length)
		return 2
	}

	res, err := replay(*data, *length, *weight)
	if err != nil {
		fmt.Fprintf(stderr, "backtest: %v\n", err)
		return 1
	}
	if *asJSON {
		err = printJSON(stdout, res)
	} else {
		err = printText(stdout, res, *weight == 0)
	}
	if err != nil {
		fmt.Fprintf(stderr, "backtest: writing the report: %v\n", err)
		return 1
	}
	return 0
}

// replay reads the file at path and replays it through the default policy.
func replay(path string, length time.Duration, weight float64) (*backtest.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := backtest.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if length > 0 {
		d.Length = length
	}
	res, err := backtest.Replay(d, backtest.Options{Weight: weight})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

func printJSON(w io.Writer, res *backtest.Result) error {
	enc := json.NewEncoder(w)
	for _, s := range res.Steps {
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}

func printText(w io.Writer, res *backtest.Result, observedWeight bool) error {
	b, win := res.Baseline, res.Window
	ew := &errWriter{w: w}
	ew.printf("baseline: %s to %s, %.0f requests, error rate %.3g%%", stamp(b.Start), stamp(b.End), b.Requests, 100*b.ErrorRate())
	if p95, ok := b.Latency.Quantile(0.95); ok {
		ew.printf(", P95 %s", seconds(p95))
	}
	how := "given"
	if observedWeight {
		how = "observed"
	}
	ew.printf("\nwindow: %s to %s (%s), canary weight %.3g%% (%s)\n", stamp(win.Start), stamp(win.Start.Add(win.Length)), win.Length, win.Weight, how)
	observed := 0
	for _, s := range res.Steps {
		if s.Final && s.Decision != backtest.Rollback {
			break // the conclusion, below
		}
		observed++
		ew.printf("%s  %-12s  %s\n", stamp(s.Time), s.Decision, s.Reason)
	}
	final := res.Final()
	when := "at the end of the window"
	if final.Decision == backtest.Rollback {
		when = "at " + stamp(final.Time)
	}
	ew.printf("verdict: %s %s, after %d interval(s)", final.Decision, when, observed)
	if res.Gaps > 0 {
		ew.printf(" and %d gap(s)", res.Gaps)
	}
	if final.Decision == backtest.Rollback {
		ew.printf("\n") // the reason is the rollback line above; the numbers follow
	} else {
		ew.printf(": %s\n", final.Reason)
	}
	for _, m := range final.Measurements {
		ew.printf("  %s\n", m)
	}
	return ew.err
}

func stamp(t time.Time) string { return t.Format(time.RFC3339Nano) }

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond)
}

// errWriter keeps the first write error, so that printing can go on
// unchecked and be checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
