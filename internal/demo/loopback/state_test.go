package loopback

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
)

// State reports the split the proxy applies, counting only ready
// instances, and SetApp changes how new instances of a version behave.
func TestStateAndSetApp(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	apps := map[string]demoapp.Config{}
	f, err := New(ctx, Config{Version: "v1", Instances: 2, Startup: time.Millisecond, Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	traffic := func(want map[string]float64) {
		t.Helper()
		if diff := cmp.Diff(want, f.State().Traffic); diff != "" {
			t.Errorf("traffic (-want +got):\n%s", diff)
		}
	}
	traffic(map[string]float64{"v1": 100})
	if err := f.Route(ctx, "v1", "v2", 25); err != nil {
		t.Fatal(err)
	}
	traffic(map[string]float64{"v1": 100}) // no v2 ready: all on v1

	f.SetApp("v2", demoapp.Config{ErrorRate: 1})
	if _, ok := apps["v2"]; ok {
		t.Error("SetApp changed the caller's Config.Apps")
	}
	id, err := f.Start(ctx, "v2")
	if err != nil {
		t.Fatal(err)
	}
	traffic(map[string]float64{"v1": 75, "v2": 25})
	s := f.State()
	if s.Stable != "v1" || s.Canary != "v2" || s.Weight != 25 || s.Active != "" || len(s.Instances) != 3 {
		t.Errorf("state %+v", s)
	}
	for _, in := range s.Instances {
		if !in.Ready || in.Metrics == "" {
			t.Errorf("instance %+v", in)
		}
	}
	if err := f.Route(ctx, "v1", "v2", 100); err != nil {
		t.Fatal(err)
	}
	traffic(map[string]float64{"v2": 100})
	resp, err := http.Get(f.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("X-Version") != "v2" {
		t.Errorf("v2 set to fail every request answered %d from %q", resp.StatusCode, resp.Header.Get("X-Version"))
	}
	if err := f.Switch(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	traffic(map[string]float64{"v1": 100})
	if s := f.State(); s.Active != "v1" || s.Weight != 0 {
		t.Errorf("after a switch: %+v", s)
	}
	if err := f.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
}
