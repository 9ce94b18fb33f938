package loopback

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// A Load sends requests to a URL at a steady rate until its context ends,
// and counts the answers.
type Load struct {
	sent, failed atomic.Int64
	wg           sync.WaitGroup
}

// Drive sends rps requests per second to url until ctx ends, at most 64 at
// a time. Wait for it to finish with Wait. A rate that is not positive
// sends nothing.
func Drive(ctx context.Context, url string, rps float64) *Load {
	l := &Load{}
	if !(rps > 0) || rps > 1e6 {
		return l
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Timeout: 5 * time.Second, Transport: transport}
	sem := make(chan struct{}, 64)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rps))
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer tick.Stop()
		defer transport.CloseIdleConnections()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // the service is too slow for this rate: skip, as a client would time out
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer func() { <-sem }()
				l.send(ctx, client, url)
			}()
		}
	}()
	return l
}

func (l *Load) send(ctx context.Context, client *http.Client, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return // shutting down: not an answer
	}
	l.sent.Add(1)
	if err != nil {
		l.failed.Add(1)
		return
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		l.failed.Add(1)
	}
}

// Wait blocks until every request in flight has finished.
func (l *Load) Wait() { l.wg.Wait() }

// Counts returns how many requests got an answer (or a transport error),
// and how many of those failed.
func (l *Load) Counts() (sent, failed int64) { return l.sent.Load(), l.failed.Load() }
