package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

func TestCollectorWindows(t *testing.T) {
	var c Collector
	for i := range 120 {
		at := t0.Add(time.Duration(i) * time.Second)
		c.Add("v1", at, fmt.Sprintf("INFO request %d served", i))
		if i%4 == 0 {
			c.Add("v1", at, fmt.Sprintf("ERROR upstream timeout after %dms", 100+i))
		}
	}
	// Lines with their own time stamps go where their time says, even
	// when they arrive late.
	c.Add("v1", t0.Add(time.Hour), `{"time":"2025-03-01T12:00:30.5Z","level":"WARN","msg":"late line"}`)
	o, err := c.Patterns(t.Context(), verify.Query{Version: "v1", Start: t0, End: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if o.Lines != 76 || len(o.Patterns) != 2 {
		t.Fatalf("first minute: %+v; want 76 lines (60 info, 15 timeouts, 1 late) in 2 patterns", o)
	}
	for _, p := range o.Patterns {
		switch p.Template {
		case "ERROR upstream timeout after <*>":
			if p.Count != 15 || !p.FirstSeen.Equal(t0) || p.Example != "ERROR upstream timeout after 100ms" {
				t.Errorf("timeouts: %+v", p)
			}
		case "late line":
			if p.Count != 1 || !p.FirstSeen.Equal(t0.Add(30500*time.Millisecond)) {
				t.Errorf("late line: %+v", p)
			}
		default:
			t.Errorf("unexpected pattern %+v", p)
		}
	}
	if _, err := c.Patterns(t.Context(), verify.Query{Version: "v0", Start: t0, End: t0.Add(time.Minute)}); !errors.Is(err, verify.ErrNoData) {
		t.Errorf("unknown version: %v, want ErrNoData", err)
	}
	quiet := c.Writer("v2")
	defer quiet.Close()
	if o, err := c.Patterns(t.Context(), verify.Query{Version: "v2", Start: t0, End: t0.Add(time.Minute)}); err != nil || o.Lines != 0 {
		t.Errorf("a known version that logged nothing: %+v, %v; want zero lines", o, err)
	}
}

func TestCollectorRetention(t *testing.T) {
	c := Collector{Retention: time.Minute}
	for i := range 5000 {
		c.Add("v1", t0.Add(time.Duration(i)*100*time.Millisecond), "ERROR boom")
	}
	o, err := c.Patterns(t.Context(), verify.Query{Version: "v1", Start: t0, End: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if o.Lines > 1000 || o.Lines < 600 || len(o.Warnings) == 0 {
		t.Errorf("after 500s at 10 lines/s with a minute's retention: %g lines kept, warnings %q; want 600 to 1000 and a warning", o.Lines, o.Warnings)
	}
}

func TestCollectorWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c Collector
		w := c.Writer("v2")
		start := time.Now()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					fmt.Fprintf(w, "ERROR shard %d exhausted\nINFO ok\n", g*25+i)
				}
			}()
		}
		wg.Wait()
		time.Sleep(time.Second)
		io.WriteString(w, "WARN partial ")
		io.WriteString(w, "line")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, "x\n"); !errors.Is(err, ErrClosed) {
			t.Errorf("write after Close: %v, want ErrClosed", err)
		}
		o, err := c.Patterns(t.Context(), verify.Query{Version: "v2", Start: start, End: time.Now().Add(time.Nanosecond)})
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]float64{}
		for _, p := range o.Patterns {
			counts[p.Template] = p.Count
		}
		if o.Lines != 201 || counts["ERROR shard <*> exhausted"] != 100 || counts["WARN partial line"] != 1 {
			t.Errorf("%g lines, patterns %v; want 201 lines, 100 shard errors and the partial line", o.Lines, counts)
		}
	})
}

func TestCollectorReadLines(t *testing.T) {
	var c Collector
	long := strings.Repeat("x", MaxLineBytes+10)
	r := strings.NewReader("ERROR one\r\nWARN two\n" + long + "\nERROR last")
	if err := c.ReadLines(t.Context(), "v1", r); err != nil {
		t.Fatal(err)
	}
	o, err := c.Patterns(t.Context(), verify.Query{Version: "v1", Start: time.Now().Add(-time.Minute), End: time.Now().Add(time.Minute)})
	if err != nil || o.Lines != 4 || len(o.Patterns) != 3 {
		t.Errorf("ReadLines: %+v, %v; want 4 lines and 3 patterns", o, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.ReadLines(ctx, "v1", strings.NewReader("a\n")); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadLines with a cancelled context: %v", err)
	}
	broken := io.MultiReader(strings.NewReader("ERROR a\n"), iotestErr{})
	if err := c.ReadLines(t.Context(), "v1", broken); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("ReadLines over a failing reader: %v", err)
	}
	if _, err := c.Patterns(t.Context(), verify.Query{Version: "v1", Start: t0, End: t0}); err == nil || errors.Is(err, verify.ErrNoData) {
		t.Errorf("empty window: %v, want a plain error", err)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("disk gone") }
