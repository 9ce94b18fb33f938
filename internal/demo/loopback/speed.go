package loopback

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/safedeploy/safedeploy/flags"
)

// A Timing is how long one way back took: from the decision until the
// change is in effect for every new request.
type Timing struct {
	Name string
	D    time.Duration
}

// MeasureRollbacks measures four ways back on f, which serves version cur:
// turning a kill switch off, setting a canary's weight to zero, switching a
// blue/green pair back, and redeploying cur. It deploys version next (whose
// faulty code path reads flag from store) beside cur to have something to go
// back from, checks after each step with requests through the proxy that the
// old behaviour serves, and leaves f serving cur alone.
func MeasureRollbacks(ctx context.Context, f *Fleet, store flags.Store, flag, cur, next string) ([]Timing, error) {
	insts, err := f.Instances(ctx)
	if err != nil {
		return nil, err
	}
	n := len(insts)
	var out []Timing
	timed := func(name string, action func() error, check func(version, path string) bool) error {
		start := time.Now()
		if err := action(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, Timing{name, time.Since(start)})
		return f.expect(ctx, name, check)
	}
	if err := store.Set(ctx, flags.Flag{Name: flag, Enabled: true}); err != nil {
		return nil, err
	}

	// A canary of next, its flagged code path on.
	if _, err := f.Start(ctx, next); err != nil {
		return nil, err
	}
	if err := f.Route(ctx, cur, next, 50); err != nil {
		return nil, err
	}
	if err := timed("kill switch off", func() error { return flags.KillSwitch(ctx, store, flag) },
		func(v, path string) bool { return v == cur || path == "old" }); err != nil {
		return nil, err
	}
	if err := timed("canary weight to 0", func() error { return f.Route(ctx, cur, next, 0) },
		func(v, _ string) bool { return v == cur }); err != nil {
		return nil, err
	}

	// A full blue/green side of next.
	if err := f.startN(ctx, next, n-1); err != nil {
		return nil, err
	}
	if err := f.Switch(ctx, next); err != nil {
		return nil, err
	}
	if err := timed("blue/green switch back", func() error { return f.Switch(ctx, cur) },
		func(v, _ string) bool { return v == cur }); err != nil {
		return nil, err
	}

	// Only next left: going back means starting cur again.
	if err := f.Switch(ctx, next); err != nil {
		return nil, err
	}
	if err := f.stopVersion(ctx, cur); err != nil {
		return nil, err
	}
	redeploy := func() error {
		if err := f.startN(ctx, cur, n); err != nil {
			return err
		}
		return f.Switch(ctx, cur)
	}
	if err := timed(fmt.Sprintf("redeploy %s (%d instances)", cur, n), redeploy, func(v, _ string) bool { return v == cur }); err != nil {
		return nil, err
	}
	return out, f.stopVersion(ctx, next)
}

// startN starts n instances of version at once.
func (f *Fleet) startN(ctx context.Context, version string, n int) error {
	var g errgroup.Group
	for range n {
		g.Go(func() error { _, err := f.Start(ctx, version); return err })
	}
	return g.Wait()
}

// stopVersion stops every instance of version.
func (f *Fleet) stopVersion(ctx context.Context, version string) error {
	insts, err := f.Instances(ctx)
	if err != nil {
		return err
	}
	for _, in := range insts {
		if in.Version == version {
			if err := f.Stop(ctx, in.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// expect sends requests through the proxy and fails unless every answer
// satisfies ok.
func (f *Fleet) expect(ctx context.Context, what string, ok func(version, path string) bool) error {
	client := &http.Client{Timeout: 5 * time.Second}
	for range 50 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL(), nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s: checking: %w", what, err)
		}
		resp.Body.Close()
		if v, p := resp.Header.Get("X-Version"), resp.Header.Get("X-Code-Path"); !ok(v, p) {
			return fmt.Errorf("%s: a request was still served by %s (code path %s)", what, v, p)
		}
	}
	return nil
}
