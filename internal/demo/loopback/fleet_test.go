package loopback

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
)

func versionOf(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-Version")
}

func TestFleetRoutes(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f, err := New(ctx, Config{Version: "v1", Instances: 2, Startup: 10 * time.Millisecond, Apps: map[string]demoapp.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	if v := versionOf(t, f.URL()); v != "v1" {
		t.Fatalf("served by %q, want v1", v)
	}
	id, err := f.Start(ctx, "v2")
	if err != nil {
		t.Fatal(err)
	}
	f.Route(ctx, "v1", "v2", 0)
	for range 20 {
		if v := versionOf(t, f.URL()); v != "v1" {
			t.Fatalf("weight 0: served by %q", v)
		}
	}
	f.Route(ctx, "v1", "v2", 100)
	for range 20 {
		if v := versionOf(t, f.URL()); v != "v2" {
			t.Fatalf("weight 100: served by %q", v)
		}
	}
	if got := f.RoutedTo("v2"); got.IsZero() || f.FirstRequest("v2").IsZero() {
		t.Errorf("RoutedTo = %v, FirstRequest = %v: want both set", got, f.FirstRequest("v2"))
	}
	f.Switch(ctx, "v1")
	if v := versionOf(t, f.URL()); v != "v1" {
		t.Fatalf("switched to v1: served by %q", v)
	}
	targets, _ := f.Targets(ctx)
	if len(targets) != 3 {
		t.Errorf("%d scrape targets, want 3", len(targets))
	}
	if err := f.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(ctx, id); err == nil {
		t.Error("stopping a stopped instance succeeded")
	}
	if insts, _ := f.Instances(ctx); len(insts) != 2 {
		t.Errorf("%d instances after Stop, want 2", len(insts))
	}
}

func TestMeasureRollbacks(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var store flags.Memory
	faulty := func() bool {
		fl, err := store.Get(ctx, "x")
		return err != nil || fl.Enabled
	}
	f, err := New(ctx, Config{Version: "v1", Instances: 2, Startup: 50 * time.Millisecond,
		Apps: map[string]demoapp.Config{"v3": {Faulty: faulty}}})
	if err != nil {
		t.Fatal(err)
	}
	timings, err := MeasureRollbacks(ctx, f, &store, "x", "v1", "v3")
	if err != nil {
		t.Fatal(err)
	}
	if len(timings) != 4 {
		t.Fatalf("%d timings, want 4: %v", len(timings), timings)
	}
	if redeploy := timings[3].D; redeploy < 50*time.Millisecond {
		t.Errorf("redeploy took %s, less than an instance's start", redeploy)
	}
	insts, _ := f.Instances(ctx)
	for _, in := range insts {
		if in.Version != "v1" {
			t.Errorf("instance %s of %s left behind", in.ID, in.Version)
		}
	}
	if len(insts) != 2 {
		t.Errorf("%d instances of v1 after measuring, want 2", len(insts))
	}
}
