package backtest_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/verify"
	"github.com/safedeploy/safedeploy/verify/backtest"
	"github.com/safedeploy/safedeploy/verify/backtest/backtesttest"
)

var (
	t0  = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	inf = math.Inf(1)
)

func minute(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

func obs(requests, errors float64) *verify.Observation {
	return &verify.Observation{Requests: requests, Errors: errors}
}

func read(t *testing.T, file string) *backtest.Data {
	t.Helper()
	d, err := backtest.Read(strings.NewReader(file))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return d
}

func TestReadColumnsInAnyOrder(t *testing.T) {
	want := &backtest.Data{
		Length: time.Minute,
		Intervals: []backtest.Interval{
			{Time: minute(0), Line: 2, Baseline: &verify.Observation{Requests: 100, Errors: 1, Business: 7,
				Latency: verify.Histogram{{UpperBound: 0.1, Count: 90}, {UpperBound: 0.5, Count: 99}, {UpperBound: inf, Count: 100}}}},
			{Time: minute(1), Line: 3,
				Baseline: &verify.Observation{Requests: 95, Errors: 2, Business: 6,
					Latency: verify.Histogram{{UpperBound: 0.1, Count: 80}, {UpperBound: 0.5, Count: 94}, {UpperBound: inf, Count: 95}}},
				Canary: &verify.Observation{Requests: 5.5, Errors: 0, Business: 0.5,
					Latency: verify.Histogram{{UpperBound: 0.1, Count: 5}, {UpperBound: 0.5, Count: 5.5}, {UpperBound: inf, Count: 5.5}}}},
		},
	}
	files := map[string]string{
		"canonical": `time,arm,requests,errors,business,le=0.1,le=0.5,le=+Inf
2025-03-01T12:00:00Z,baseline,100,1,7,90,99,100
2025-03-01T12:01:00Z,baseline,95,2,6,80,94,95
2025-03-01T12:01:00Z,canary,5.5,0,0.5,5,5.5,5.5
`,
		"byte-order mark, shuffled, spaces, canary first": "\ufeff" + `le=+Inf, errors ,le=0.5,arm,time,business,requests,le=0.1
100,1,99,baseline,2025-03-01T12:00:00Z,7,100,90
5.5, 0,5.5,canary,2025-03-01T12:01:00Z,0.5,5.5,5
95,2,94,baseline,2025-03-01T12:01:00Z,6,95,80
`,
	}
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			got := read(t, file)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Read mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadOptionalColumns(t *testing.T) {
	d := read(t, "time,arm,requests,errors\n2025-03-01T12:00:00Z,canary,10,1\n")
	want := []backtest.Interval{{Time: t0, Line: 2, Canary: obs(10, 1)}}
	if diff := cmp.Diff(want, d.Intervals); diff != "" {
		t.Errorf("without optional columns (-want +got):\n%s", diff)
	}

	// Empty optional cells: no business events, no latency for that row.
	d = read(t, `time,arm,requests,errors,business,le=1,le=+Inf
2025-03-01T12:00:00Z,baseline,10,1,,,
2025-03-01T12:00:00Z,canary,10,1,3,9,10
`)
	want = []backtest.Interval{{Time: t0, Line: 2, Baseline: obs(10, 1),
		Canary: &verify.Observation{Requests: 10, Errors: 1, Business: 3, Latency: verify.Histogram{{UpperBound: 1, Count: 9}, {UpperBound: inf, Count: 10}}}}}
	if diff := cmp.Diff(want, d.Intervals); diff != "" {
		t.Errorf("with empty optional cells (-want +got):\n%s", diff)
	}
}

func TestReadLength(t *testing.T) {
	tests := []struct {
		name  string
		times []string
		want  time.Duration
	}{
		{"one time: the default", []string{"2025-03-01T12:00:00Z"}, verify.DefaultInterval},
		{"regular", []string{"2025-03-01T12:00:00Z", "2025-03-01T12:00:30Z", "2025-03-01T12:01:00Z"}, 30 * time.Second},
		{"a gap does not lengthen intervals", []string{"2025-03-01T12:00:00Z", "2025-03-01T12:05:00Z", "2025-03-01T12:06:00Z"}, time.Minute},
		{"uneven: the smallest spacing", []string{"2025-03-01T12:00:00Z", "2025-03-01T12:02:00Z", "2025-03-01T12:05:00Z"}, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("time,arm,requests,errors\n")
			for _, s := range tt.times {
				b.WriteString(s + ",canary,10,0\n")
			}
			d := read(t, b.String())
			if d.Length != tt.want {
				t.Errorf("Length = %s, want %s", d.Length, tt.want)
			}
			if len(d.Intervals) != len(tt.times) {
				t.Errorf("%d intervals, want %d: a gap is simply absent", len(d.Intervals), len(tt.times))
			}
			last := d.Interval(len(d.Intervals) - 1)
			if got := last.End.Sub(last.Start); got != tt.want {
				t.Errorf("last interval lasts %s, want %s", got, tt.want)
			}
		})
	}
}

func TestReadTimes(t *testing.T) {
	// The same instant in two offsets is one time; the file's offset is
	// kept; fractional seconds are allowed; comments and blank lines count
	// as lines.
	d := read(t, `# a comment
time,arm,requests,errors

2025-03-01T13:00:00+01:00,baseline,100,1
2025-03-01T12:00:00Z,canary,10,0
2025-03-01T12:00:30.5Z,canary,10,0
`)
	if len(d.Intervals) != 2 {
		t.Fatalf("%d intervals, want 2", len(d.Intervals))
	}
	iv := d.Intervals[0]
	if got := iv.Time.Format(time.RFC3339); got != "2025-03-01T13:00:00+01:00" {
		t.Errorf("time = %s, want the file's offset kept", got)
	}
	if iv.Line != 4 || iv.Baseline == nil || iv.Canary == nil {
		t.Errorf("first interval = line %d, baseline %v, canary %v; want line 4 with both arms", iv.Line, iv.Baseline, iv.Canary)
	}
	if d.Length != 30500*time.Millisecond {
		t.Errorf("Length = %s, want 30.5s", d.Length)
	}
}

func TestReadPassesImpossibleCountsThrough(t *testing.T) {
	d := read(t, `time,arm,requests,errors,business,le=0.1,le=+Inf
2025-03-01T12:00:00Z,canary,-999950,-9999,-5,-899960,-999950
2025-03-01T12:01:00Z,canary,10,12,0,11,10
`)
	want := []*verify.Observation{
		{Requests: -999950, Errors: -9999, Business: -5, Latency: verify.Histogram{{UpperBound: 0.1, Count: -899960}, {UpperBound: inf, Count: -999950}}},
		{Requests: 10, Errors: 12, Latency: verify.Histogram{{UpperBound: 0.1, Count: 11}, {UpperBound: inf, Count: 10}}},
	}
	for i, w := range want {
		if diff := cmp.Diff(w, d.Intervals[i].Canary); diff != "" {
			t.Errorf("interval %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestReadErrors(t *testing.T) {
	const head = "time,arm,requests,errors\n"
	const row = "2025-03-01T12:00:00Z,canary,10,1\n"
	tests := []struct {
		name, file string
		line       int
		want       string
		is         error // a cause errors.Is must find, besides ErrInvalid
	}{
		{"empty file", "", 1, "line 1: empty file: a header is required (time,arm,requests,errors…)", nil},
		{"comments only", "# nothing\n", 1, "line 1: empty file: a header is required (time,arm,requests,errors…)", nil},
		{"header only", head, 2, "line 2: no rows after the header", nil},
		{"missing columns", "time,arm\n" + "2025-03-01T12:00:00Z,canary\n", 1,
			`line 1: missing required column(s) "requests", "errors" in the header`, nil},
		{"unknown column", "time,arm,requests,errors,eror\n", 1,
			`line 1: column "eror": unknown column (want time, arm, requests, errors, business or le=<seconds>)`, nil},
		{"repeated column", "time,arm,requests,errors,arm\n", 1, `line 1: column "arm": appears twice (columns 2 and 5)`, nil},
		{"bad bound", "time,arm,requests,errors,le=fast,le=+Inf\n", 1,
			`line 1: column "le=fast": bound "fast" is not a number of seconds ≥ 0`, nil},
		{"negative bound", "time,arm,requests,errors,le=-1,le=+Inf\n", 1,
			`line 1: column "le=-1": bound "-1" is not a number of seconds ≥ 0`, nil},
		{"same bound twice", "time,arm,requests,errors,le=0.1,le=0.10,le=+Inf\n", 1,
			`line 1: column "le=0.10": the same bound as column "le=0.1"`, nil},
		{"no +Inf bucket", "time,arm,requests,errors,le=0.1\n", 1,
			`line 1: histogram columns need an "le=+Inf" column (equal to requests)`, nil},
		{"not a number", head + row + "2025-03-01T12:01:00Z,canary,10,x\n", 3,
			`line 3: column "errors": "x" is not a number`, nil},
		{"empty count", head + "2025-03-01T12:00:00Z,canary,,1\n", 2, `line 2: column "requests": is empty`, nil},
		{"NaN", head + "2025-03-01T12:00:00Z,canary,NaN,1\n", 2, `line 2: column "requests": "NaN" is not a finite number`, nil},
		{"overflow", head + "2025-03-01T12:00:00Z,canary,1e999,1\n", 2, `line 2: column "requests": "1e999" is not a finite number`, nil},
		{"bad business", "time,arm,requests,errors,business\n2025-03-01T12:00:00Z,canary,10,1,lots\n", 2,
			`line 2: column "business": "lots" is not a number`, nil},
		{"bad time", head + "yesterday,canary,10,1\n", 2,
			`line 2: column "time": "yesterday" is not an RFC 3339 time like 2025-03-01T12:00:00Z`, nil},
		{"time out of range", head + "2025-13-01T12:00:00Z,canary,10,1\n", 2,
			`line 2: column "time": "2025-13-01T12:00:00Z" is not an RFC 3339 time like 2025-03-01T12:00:00Z: month out of range`, nil},
		{"empty time", head + ",canary,10,1\n", 2, `line 2: column "time": is empty`, nil},
		{"unknown arm", head + "2025-03-01T12:00:00Z,Canary,10,1\n", 2,
			`line 2: column "arm": unknown arm "Canary" (want baseline or canary)`, nil},
		{"+Inf differs from requests", "time,arm,requests,errors,le=0.5,le=+Inf\n" +
			"# seven lines\n\n\n\n\n\n\n" +
			"2025-03-01T12:00:00Z,baseline,100,1,80,90\n", 9,
			"line 9: le=+Inf 90 differs from requests 100", nil},
		{"some bucket cells empty", "time,arm,requests,errors,le=0.5,le=+Inf\n2025-03-01T12:00:00Z,canary,10,1,,10\n", 2,
			`line 2: column "le=0.5": is empty but other le= columns are not (leave all empty for a row without latency)`, nil},
		{"bad bucket count", "time,arm,requests,errors,le=0.5,le=+Inf\n2025-03-01T12:00:00Z,canary,10,1,many,10\n", 2,
			`line 2: column "le=0.5": "many" is not a number`, nil},
		{"time going backwards", head + row + "2025-03-01T12:01:00Z,canary,10,1\n" + "2025-03-01T12:00:30Z,baseline,10,1\n", 4,
			`line 4: column "time": 2025-03-01T12:00:30Z is before 2025-03-01T12:01:00Z on line 3: rows must be in time order`, nil},
		{"two rows of one arm", head + "2025-03-01T12:00:00Z,canary,10,1\n" + "2025-03-01T12:00:00Z,baseline,10,1\n" + "2025-03-01T13:00:00+01:00,canary,10,1\n", 4,
			`line 4: column "arm": a second canary row for 2025-03-01T12:00:00Z (the first is on line 2)`, nil},
		{"wrong number of fields", head + row + "2025-03-01T12:01:00Z,canary,10\n", 3,
			"line 3: wrong number of fields (the header has a different number)", csv.ErrFieldCount},
		{"bare quote", head + `2025-03-01T12:00:00Z,can"ary,10,1` + "\n", 2,
			`line 2: character 25: bare " in non-quoted-field`, csv.ErrBareQuote},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := backtest.Read(strings.NewReader(tt.file))
			if err == nil {
				t.Fatalf("Read = %d intervals, want error %q", len(d.Intervals), tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
			var pe *backtest.ParseError
			if !errors.As(err, &pe) || pe.Line != tt.line {
				t.Errorf("error %#v: want a *ParseError at line %d", err, tt.line)
			}
			if !errors.Is(err, backtest.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestReadFailingReader(t *testing.T) {
	broken := errors.New("disk on fire")
	_, err := backtest.Read(iotest.ErrReader(broken))
	if !errors.Is(err, broken) {
		t.Errorf("Read = %v, want an error wrapping %v", err, broken)
	}
	if errors.Is(err, backtest.ErrInvalid) {
		t.Errorf("Read = %v: a failed read is not a malformed file", err)
	}
}

func TestInterval(t *testing.T) {
	d := &backtest.Data{Length: time.Minute, Intervals: []backtest.Interval{
		{Time: minute(0), Baseline: obs(100, 1)},
		{Time: minute(1), Canary: obs(10, 1)},
	}}
	want := []verify.Interval{
		{Start: minute(0), End: minute(1), Control: obs(100, 1)},
		{Start: minute(1), End: minute(2), Canary: *obs(10, 1)},
	}
	for i, w := range want {
		if diff := cmp.Diff(w, d.Interval(i)); diff != "" {
			t.Errorf("Interval(%d) (-want +got):\n%s", i, diff)
		}
	}
}

func TestWriteRoundTrip(t *testing.T) {
	for name, s := range map[string]backtesttest.Scenario{
		"full":                   {Before: 5, Intervals: 10, BusinessRate: 0.1, Gaps: []int{3}, Resets: []int{5}},
		"no latency, canary all": {Intervals: 3, Share: 1, NoLatency: true},
	} {
		t.Run(name, func(t *testing.T) {
			want := s.Data()
			var buf bytes.Buffer
			if err := backtest.Write(&buf, want); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, err := backtest.Read(&buf)
			if err != nil {
				t.Fatalf("Read(Write(d)): %v", err)
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(backtest.Interval{}, "Line")); diff != "" {
				t.Errorf("Read(Write(d)) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	hist := func(n float64, bounds ...float64) *verify.Observation {
		o := &verify.Observation{Requests: n}
		for _, b := range bounds {
			o.Latency = append(o.Latency, verify.Bucket{UpperBound: b, Count: n})
		}
		return o
	}
	tests := []struct {
		name string
		d    *backtest.Data
		want string
	}{
		{"out of order", &backtest.Data{Intervals: []backtest.Interval{{Time: minute(1), Canary: obs(1, 0)}, {Time: minute(0), Canary: obs(1, 0)}}},
			"interval 1 (2025-03-01T12:00:00Z) is not after the one before"},
		{"different bounds", &backtest.Data{Intervals: []backtest.Interval{{Time: minute(0), Canary: hist(1, 0.1, inf), Baseline: hist(1, 0.2, inf)}}},
			"histogram bound 0.1 where another has 0.2"},
		{"no +Inf", &backtest.Data{Intervals: []backtest.Interval{{Time: minute(0), Canary: hist(1, 0.1)}}},
			"histogram's last bound is 0.1, not +Inf"},
		{"+Inf differs", &backtest.Data{Intervals: []backtest.Interval{{Time: minute(0), Canary: &verify.Observation{Requests: 2, Latency: verify.Histogram{{UpperBound: inf, Count: 1}}}}}},
			"le=+Inf 1 differs from requests 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := backtest.Write(&buf, tt.d)
			if !errors.Is(err, backtest.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write = %v, want ErrInvalid saying %q", err, tt.want)
			}
			if buf.Len() > 0 {
				t.Errorf("Write wrote %q before failing", buf.String())
			}
		})
	}
}

// TestDocExample reads the example file of the package doc, so that the
// doc shows a file Read accepts.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var file strings.Builder
	in := false
	for l := range strings.Lines(string(src)) {
		switch {
		case strings.HasPrefix(l, "//\t# checkout"):
			in = true
		case in && !strings.HasPrefix(l, "//\t"):
			in = false
		}
		if in {
			file.WriteString(strings.TrimPrefix(l, "//\t"))
		}
	}
	d := read(t, file.String())
	if len(d.Intervals) != 4 || d.Length != time.Minute || d.Intervals[3].Canary.Errors != 9 {
		t.Errorf("doc example: %d intervals of %s, want 4 of 1m ending with 9 canary errors", len(d.Intervals), d.Length)
	}
}
