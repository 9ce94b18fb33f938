package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/safedeploy/safedeploy/internal/retry"
)

// An APIError is an answer from the Prometheus HTTP API that is not a
// result: an HTTP status other than 2xx, or a body whose status is "error".
// Observe retries those with status 429 or 5xx, and no others.
type APIError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Type is Prometheus's errorType, such as "bad_data" (a query that
	// does not parse), "execution" or "timeout", or "" when the body was
	// not the API's JSON (a proxy's error page, say).
	Type string
	// Message is Prometheus's error message, or the start of the body.
	Message string
}

// Error returns the status, the error type and the message.
func (e *APIError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Type != "" {
		msg += ": " + e.Type
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns ErrBadQuery when Prometheus rejected the query itself
// (HTTP 400 or 422, or error type bad_data or execution), and nil
// otherwise.
func (e *APIError) Unwrap() error {
	switch {
	case e.StatusCode == http.StatusBadRequest, e.StatusCode == http.StatusUnprocessableEntity,
		e.Type == "bad_data", e.Type == "execution":
		return ErrBadQuery
	}
	return nil
}

// query evaluates promql at the instant at, retrying transient failures
// with backoff for up to c.retryFor, each attempt bounded by c.timeout.
func (c *config) query(ctx context.Context, promql string, at time.Time) (model.Value, []string, error) {
	var (
		value    model.Value
		warnings []string
	)
	err := retry.Query(ctx, promql, c.retryFor, c.timeout, transient, func(ctx context.Context) error {
		var err error
		value, warnings, err = c.do(ctx, promql, at)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return value, warnings, nil
}

// transient reports whether err may go away if the query is asked again.
func transient(err error) bool {
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return retry.Status(apiErr.StatusCode)
	}
	return retry.Network(err)
}

// response is the envelope of every Prometheus API answer.
type response struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
}

// do evaluates promql at the instant at, once.
func (c *config) do(ctx context.Context, promql string, at time.Time) (model.Value, []string, error) {
	form := url.Values{
		"query":   {promql},
		"time":    {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)},
		"timeout": {promDuration(c.timeout)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	if len(body) > maxResponse {
		return nil, nil, fmt.Errorf("%w: the response exceeds %d MiB: narrow the query (Labels) or the window", ErrBadQuery, maxResponse>>20)
	}
	return parseResponse(resp.StatusCode, body)
}

// parseResponse reads an answer of the query API: its result and
// warnings, or an *APIError for an HTTP status other than 2xx or a body
// whose status is not "success", or another error for a body that is not
// the API's JSON or a result that does not decode.
func parseResponse(status int, body []byte) (model.Value, []string, error) {
	var r response
	jsonErr := json.Unmarshal(body, &r)
	if status/100 != 2 || jsonErr == nil && r.Status != "success" {
		e := &APIError{StatusCode: status, Message: excerpt(body)}
		if jsonErr == nil && r.Status == "error" {
			e.Type, e.Message = r.ErrorType, r.Error
		}
		return nil, nil, e
	}
	if jsonErr != nil {
		return nil, nil, fmt.Errorf("not a Prometheus API response (%s): %w", excerpt(body), jsonErr)
	}
	v, err := decode(r.Data.ResultType, r.Data.Result)
	if err != nil {
		return nil, nil, err
	}
	return v, r.Warnings, nil
}

// decode decodes a query's result of the given type.
func decode(resultType string, result json.RawMessage) (model.Value, error) {
	var (
		v   model.Value
		err error
	)
	switch resultType {
	case "matrix":
		var m model.Matrix
		err = json.Unmarshal(result, &m)
		if err == nil && slices.Contains(m, nil) {
			err = errors.New("a series is null")
		}
		v = m
	case "vector":
		var vec model.Vector
		err = json.Unmarshal(result, &vec)
		if err == nil && slices.Contains(vec, nil) {
			err = errors.New("a sample is null")
		}
		v = vec
	case "scalar":
		s := new(model.Scalar)
		err = json.Unmarshal(result, s)
		v = s
	case "string":
		return nil, fmt.Errorf("%w: the query returns a string, not counts", ErrBadQuery)
	default:
		return nil, fmt.Errorf("unknown result type %q", resultType)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding the %s result: %w", resultType, err)
	}
	return v, nil
}

// excerpt returns the start of body, on one line, for error messages.
func excerpt(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// maxResponse bounds how much of a response is read: raw samples over a
// long window across many series can run to gigabytes.
const maxResponse = 256 << 20
