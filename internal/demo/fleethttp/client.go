package fleethttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/safedeploy/safedeploy/strategy"
	"github.com/safedeploy/safedeploy/verify/scrape"
)

// A Client drives a fleet served by a Server. It is a strategy.Fleet, a
// strategy.RouterState and a strategy.SwitchState; Targets lists the
// instances for a scrape.Source. Set its fields before first use and do not
// change them after; it is then safe for concurrent use.
//
// Reads, routes and switches, which are safe to repeat, are retried three
// times with backoff when the connection fails; starts and stops are not.
// Every method honours its context's deadline and cancellation.
type Client struct {
	// URL is the server's base URL: "http://127.0.0.1:8099".
	URL string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Behaviors says how each version behaves, sent with every start of
	// that version; a version without one behaves as the fleet already
	// knows it.
	Behaviors map[string]Behavior
}

var _ interface {
	strategy.Fleet
	strategy.RouterState
	strategy.SwitchState
} = (*Client)(nil)

// Instances implements strategy.Fleet: every instance, ready or warming up.
func (c *Client) Instances(ctx context.Context) ([]strategy.Instance, error) {
	s, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]strategy.Instance, 0, len(s.Instances))
	for _, in := range s.Instances {
		out = append(out, strategy.Instance{ID: in.ID, Version: in.Version})
	}
	return out, nil
}

// Start implements strategy.Fleet: it returns once the instance is ready,
// or with an error and the ID of the instance that did not become ready.
func (c *Client) Start(ctx context.Context, version string) (string, error) {
	b := startBody{Version: version}
	if be, ok := c.Behaviors[version]; ok {
		b.Behavior = &be
	}
	var out idBody
	err := c.do(ctx, http.MethodPost, "/instances", b, &out, false)
	var e *Error
	if errors.As(err, &e) {
		out.ID = e.ID
	}
	return out.ID, err
}

// Stop implements strategy.Fleet. Stopping an instance the fleet does not
// have fails with an error matching ErrNotFound.
func (c *Client) Stop(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/instances/"+url.PathEscape(id), nil, nil, false)
}

// Route implements strategy.Router.
func (c *Client) Route(ctx context.Context, stable, canary string, weight float64) error {
	return c.do(ctx, http.MethodPut, "/routing", Routing{Stable: stable, Canary: canary, Weight: weight}, nil, true)
}

// Routing implements strategy.RouterState.
func (c *Client) Routing(ctx context.Context) (stable, canary string, weight float64, err error) {
	var r Routing
	err = c.do(ctx, http.MethodGet, "/routing", nil, &r, true)
	return r.Stable, r.Canary, r.Weight, err
}

// Switch implements strategy.Switch.
func (c *Client) Switch(ctx context.Context, version string) error {
	return c.do(ctx, http.MethodPut, "/switch", switchBody{Version: version}, nil, true)
}

// Current implements strategy.SwitchState: empty when traffic is not
// switched.
func (c *Client) Current(ctx context.Context) (string, error) {
	var b switchBody
	err := c.do(ctx, http.MethodGet, "/switch", nil, &b, true)
	return b.Version, err
}

// State returns what the fleet does now.
func (c *Client) State(ctx context.Context) (State, error) {
	var s State
	err := c.do(ctx, http.MethodGet, "/state", nil, &s, true)
	return s, err
}

// Targets lists every instance's metrics page with its version: the
// Targets of a scrape.Source.
func (c *Client) Targets(ctx context.Context) ([]scrape.Target, error) {
	var ts []Target
	if err := c.do(ctx, http.MethodGet, "/targets", nil, &ts, true); err != nil {
		return nil, err
	}
	out := make([]scrape.Target, len(ts))
	for i, t := range ts {
		out[i] = scrape.Target{URL: t.URL, Version: t.Version}
	}
	return out, nil
}

// do sends one request with body (JSON, or none for nil) and decodes a
// successful answer into out (unless nil). With retry, a request whose
// connection failed is sent again.
func (c *Client) do(ctx context.Context, method, path string, body, out any, retry bool) error {
	if c.URL == "" {
		return errors.New("fleethttp: Client.URL is empty")
	}
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return fmt.Errorf("fleethttp: %s %s: %w", method, path, err)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	target := strings.TrimSuffix(c.URL, "/") + path
	send := func() error {
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(data))
		if err != nil {
			return backoff.Permanent(fmt.Errorf("fleethttp: %s %s: %w", method, path, err))
		}
		if data != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			err = fmt.Errorf("fleethttp: %s %s: %w", method, path, err)
			if !retry || ctx.Err() != nil {
				return backoff.Permanent(err)
			}
			return err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if err != nil {
			return backoff.Permanent(fmt.Errorf("fleethttp: %s %s: reading the answer: %w", method, path, err))
		}
		if resp.StatusCode >= 300 {
			var eb errorBody
			if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
				eb.Error = strings.TrimSpace(string(raw))
			}
			return backoff.Permanent(&Error{Method: method, Path: path, Status: resp.StatusCode, Message: eb.Error, ID: eb.ID})
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return backoff.Permanent(fmt.Errorf("fleethttp: %s %s: the answer is not what a fleet sends: %w", method, path, err))
			}
		}
		return nil
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	return backoff.Retry(send, backoff.WithContext(backoff.WithMaxRetries(b, 3), ctx))
}
