package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/safedeploy/safedeploy/deploy"
)

// Defaults for a zero Config.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultQueueSize = 64
	DefaultRetryFor  = time.Minute
	// MaxRetryAfter caps the wait a receiver can ask for with Retry-After.
	MaxRetryAfter = time.Minute
)

// Config tunes a Notifier. The zero value is a good default: zero fields
// take the defaults above. Of them only RetryFor has a meaningful zero (no
// retries), asked for with a negative value.
type Config struct {
	// Client sends the requests; nil means a client of its own. Its own
	// Timeout, if any, applies on top of Timeout.
	Client *http.Client
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
	// QueueSize is how many messages may wait to be sent; zero means
	// DefaultQueueSize. When the queue is full the oldest waiting message
	// is dropped to make room, and counted.
	QueueSize int
	// RetryFor is how long one message is retried, with exponential
	// backoff, after a 5xx or 429 answer or a failed connection; zero means
	// DefaultRetryFor, and a negative value means no retries: each message
	// is sent once. Other 4xx answers are not retried.
	RetryFor time.Duration
	// Source is the CloudEvents source of webhook messages (for example
	// "safedeploy/shop/production"); empty means "safedeploy". Slack
	// messages ignore it.
	Source string
	// Header is added to every request (for example an Authorization
	// header a webhook receiver requires).
	Header http.Header
}

// ErrUndelivered is what Flush's error matches with errors.Is when a
// message was dropped, failed, or was still unsent at its deadline.
var ErrUndelivered = errors.New("notify: messages not delivered")

// A DeliveryError says what a Notifier could not deliver since its last
// Flush. It matches ErrUndelivered, and unwraps to the last delivery error
// too, when there was one.
type DeliveryError struct {
	// Dropped were pushed out of a full queue.
	Dropped int
	// Failed were refused (a 4xx answer other than 429) or still failing
	// after Config.RetryFor.
	Failed int
	// Unsent were still queued or being sent when Flush's deadline came.
	Unsent int
	// Last is the last error a delivery met, if any. A retry cut short by
	// Flush's deadline leaves the failure it was retrying, which says
	// more about the receiver than the cancellation does.
	Last error
}

func (e *DeliveryError) Error() string {
	s := fmt.Sprintf("notify: %d message(s) dropped (queue full), %d failed, %d unsent at the flush deadline", e.Dropped, e.Failed, e.Unsent)
	if e.Last != nil {
		s += "; last error: " + e.Last.Error()
	}
	return s
}

// Unwrap returns ErrUndelivered and the last delivery error.
func (e *DeliveryError) Unwrap() []error {
	if e.Last == nil {
		return []error{ErrUndelivered}
	}
	return []error{ErrUndelivered, e.Last}
}

// Stats counts a Notifier's messages since it was made.
type Stats struct {
	// Queued messages were accepted for sending.
	Queued int
	// Sent were accepted by the receiver (a 2xx answer).
	Sent int
	// Retries counts the requests sent again after a failed one.
	Retries int
	// Dropped, Failed and Unsent are as in DeliveryError.
	Dropped, Failed, Unsent int
}

// A message is one request body, ready to send.
type message struct {
	body []byte
}

// A Notifier sends the notable events of a run — start, each step reached,
// a failing or inconclusive verdict with its numbers, the decision, and the
// outcome (completed, rolled back, roll forward required…) — to an HTTP
// endpoint: a Slack incoming webhook (NewSlack) or any JSON webhook
// (NewWebhook). Other events are not sent.
//
// It is a deploy.Flusher. Observe never waits for the network: it formats
// the message and queues it, and a goroutine of the Notifier's own sends the
// queue in order, one request at a time, retrying with backoff. That
// goroutine runs only while there is something to send, so an idle Notifier
// holds no goroutine and needs no Close. deploy.Run calls Flush when the
// run ends; what is not delivered by then is dropped and reported in the
// run's record.
//
// A Notifier may serve several runs, one after another or at once; it is
// safe for concurrent use.
type Notifier struct {
	url    string
	cfg    Config
	format func(seq int, id string, e deploy.Event, cfg *Config) ([]byte, bool)
	ctype  string
	prefix string // of message ids

	mu      sync.Mutex
	queue   []message
	seq     int
	running bool
	done    chan struct{}      // closed when the running sender exits
	stop    context.CancelFunc // cancels the running sender
	stats   Stats
	since   DeliveryError // since the last Flush
}

// NewWebhook returns a Notifier that posts each notable event to rawURL as
// a CloudEvents 1.0 event in structured JSON mode (see Payload). It fails
// when rawURL is not an absolute http or https URL, or c has a negative
// Timeout or QueueSize.
func NewWebhook(rawURL string, c Config) (*Notifier, error) {
	return newNotifier("NewWebhook", rawURL, c, webhookMessage, "application/cloudevents+json")
}

// NewSlack returns a Notifier that posts each notable event to a Slack
// incoming webhook at rawURL as a Block Kit message: a header, the
// message, the numbers of a failing verdict as fields, and the phase and
// time. It fails as NewWebhook does.
func NewSlack(rawURL string, c Config) (*Notifier, error) {
	return newNotifier("NewSlack", rawURL, c, slackMessage, "application/json")
}

func newNotifier(fn, rawURL string, c Config, format func(int, string, deploy.Event, *Config) ([]byte, bool), ctype string) (*Notifier, error) {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("notify.%s: url: %w", fn, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("notify.%s: url = %q: must be an absolute http or https URL", fn, u.Redacted())
	case c.Timeout < 0:
		return nil, fmt.Errorf("notify.%s: Config.Timeout = %s: must not be negative", fn, c.Timeout)
	case c.QueueSize < 0:
		return nil, fmt.Errorf("notify.%s: Config.QueueSize = %d: must not be negative", fn, c.QueueSize)
	}
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.QueueSize = cmp.Or(c.QueueSize, DefaultQueueSize)
	c.RetryFor = cmp.Or(c.RetryFor, DefaultRetryFor)
	c.Source = cmp.Or(c.Source, "safedeploy")
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	id := make([]byte, 8)
	rand.Read(id) // never fails (crypto/rand)
	return &Notifier{url: rawURL, cfg: c, format: format, ctype: ctype, prefix: hex.EncodeToString(id)}, nil
}

// Observe queues e for sending if it is notable, and returns at once.
func (n *Notifier) Observe(_ context.Context, e deploy.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	body, ok := n.format(n.seq+1, fmt.Sprintf("%s-%d", n.prefix, n.seq+1), e, &n.cfg)
	if !ok {
		return
	}
	n.seq++
	if len(n.queue) >= n.cfg.QueueSize {
		n.queue = n.queue[1:]
		n.stats.Dropped++
		n.since.Dropped++
	}
	n.queue = append(n.queue, message{body: body})
	n.stats.Queued++
	if !n.running {
		ctx, cancel := context.WithCancel(context.Background())
		n.running, n.done, n.stop = true, make(chan struct{}), cancel
		go n.send(ctx, n.done)
	}
}

// Flush waits until every queued message is delivered or has failed, or
// until ctx is done: then it stops sending, drops what is left, and returns
// by the time the request under way has been abandoned. It returns nil when
// everything queued since the last Flush was delivered, and otherwise a
// *DeliveryError saying what was not.
func (n *Notifier) Flush(ctx context.Context) error {
	n.mu.Lock()
	done, stop, running := n.done, n.stop, n.running
	n.mu.Unlock()
	if running {
		select {
		case <-done:
		case <-ctx.Done():
			stop()
			<-done
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	d := n.since
	n.since = DeliveryError{}
	if d.Dropped+d.Failed+d.Unsent == 0 {
		return nil
	}
	return &d
}

// Stats returns the counts since the Notifier was made.
func (n *Notifier) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// send delivers the queue in order until it is empty or ctx is cancelled,
// then marks the Notifier idle and closes done.
func (n *Notifier) send(ctx context.Context, done chan struct{}) {
	defer close(done)
	for {
		n.mu.Lock()
		if ctx.Err() != nil {
			lost := len(n.queue)
			n.stats.Unsent += lost
			n.since.Unsent += lost
			n.queue = nil
		}
		if len(n.queue) == 0 {
			n.running = false
			n.stop()
			n.mu.Unlock()
			return
		}
		m := n.queue[0]
		n.queue = n.queue[1:]
		n.mu.Unlock()

		retries, err := n.deliver(ctx, m)
		n.mu.Lock()
		n.stats.Retries += retries
		switch {
		case err == nil:
			n.stats.Sent++
		case ctx.Err() != nil:
			n.stats.Unsent++
			n.since.Unsent++
			n.since.Last = err
		default:
			n.stats.Failed++
			n.since.Failed++
			n.since.Last = err
		}
		n.mu.Unlock()
	}
}

// deliver sends one message, retrying 5xx and 429 answers and failed
// connections with exponential backoff — waiting at least as long as a
// Retry-After header asks, up to MaxRetryAfter — for up to Config.RetryFor.
// It returns how many times it retried and the last error.
func (n *Notifier) deliver(ctx context.Context, m message) (retries int, err error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 250*time.Millisecond, 10*time.Second, n.cfg.RetryFor
	b.Reset()
	var failed error // the last attempt's failure, when there was one
	for {
		after, err := n.post(ctx, m)
		if err == nil {
			return retries, nil
		}
		if ctx.Err() != nil && failed != nil && errors.Is(err, ctx.Err()) {
			// Flush's deadline cut this retry short: its error says only
			// that, the one before what the receiver did.
			return retries, failed
		}
		var perm *permanentError
		if errors.As(err, &perm) || ctx.Err() != nil {
			return retries, err
		}
		failed = err
		if n.cfg.RetryFor < 0 {
			return retries, fmt.Errorf("not retried (RetryFor < 0): %w", err)
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return retries, fmt.Errorf("gave up after %s: %w", n.cfg.RetryFor, err)
		}
		wait = max(wait, after)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return retries, err
		case <-t.C:
		}
		retries++
	}
}

// permanentError is an answer that retrying will not change.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// post sends one request. It returns the wait the receiver asked for with
// Retry-After, and an error for anything but a 2xx answer: a
// *permanentError for a 4xx other than 429.
func (n *Notifier) post(ctx context.Context, m message) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(m.body))
	if err != nil {
		return 0, &permanentError{err}
	}
	for k, vs := range n.cfg.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", n.ctype)
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so that the connection can be reused
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return 0, nil
	case code == http.StatusTooManyRequests || code >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), time.Now()), fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(snippet))
	default:
		return 0, &permanentError{fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(snippet))}
	}
}

// retryAfter reads a Retry-After header — seconds, or an HTTP date — as a
// wait from now, capped at MaxRetryAfter; zero when absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(h); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
