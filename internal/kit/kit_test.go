package kit

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type closer struct {
	closed *[]string
	name   string
	err    error
}

func (c closer) Close() error { *c.closed = append(*c.closed, c.name); return c.err }

func TestCheck(t *testing.T) {
	var closed []string
	suite := Suite[closer]{Kit: "footest", New: "newFoo", Subject: "Foo", CloseSubject: true, Checks: []Check[closer]{
		{"Good", func(ctx context.Context, c closer, r *Report) {}},
		{"Bad", func(ctx context.Context, c closer, r *Report) {
			r.CloseAtEnd(closer{&closed, "runner", errors.New("stuck")})
			r.Errorf("wrong %d", 1)
		}},
	}}
	n := 0
	err := suite.Check(t.Context(), func() (closer, error) { n++; return closer{&closed, "subject", nil}, nil })
	if err == nil || !strings.Contains(err.Error(), "Bad: wrong 1") || !strings.Contains(err.Error(), "Bad: Close: stuck") || strings.Contains(err.Error(), "Good") {
		t.Errorf("Check = %v, want Bad's failure and its Close error only", err)
	}
	if want := "subject subject runner"; n != 2 || strings.Join(closed[:2], " ")+" "+closed[2] != "subject runner subject" && strings.Join(closed, " ") != want {
		t.Logf("closed %v", closed)
	}
	if got := strings.Join(closed, " "); got != "subject runner subject" {
		t.Errorf("closed %q, want each check's subject closed after what the check had closed", got)
	}
}

func TestCheckStops(t *testing.T) {
	suite := Suite[func()]{Kit: "footest", New: "newFoo", Subject: "Foo", Checks: []Check[func()]{
		{"First", func(context.Context, func(), *Report) {}},
		{"Second", func(context.Context, func(), *Report) { t.Error("ran after newFoo failed") }},
	}}
	err := suite.Check(t.Context(), func() (func(), error) { return nil, nil })
	if err == nil || err.Error() != "footest: stopped at First: newFoo: returned a nil Foo" {
		t.Errorf("Check with a nil subject = %v", err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("shutting down")
	cancel(cause)
	if err := suite.Check(ctx, func() (func(), error) { return func() {}, nil }); !errors.Is(err, cause) {
		t.Errorf("Check with a cancelled context = %v, want the cause", err)
	}
}

func TestEach(t *testing.T) {
	var ran []string
	suite := Suite[string]{Kit: "footest", Checks: Each("Served", []string{"v1", "v2"}, func(_ context.Context, s, v string, r *Report) {
		ran = append(ran, s+" "+v)
		if v == "v2" {
			r.Errorf("wrong")
		}
	})}
	err := suite.Check(t.Context(), func() (string, error) { return "h", nil })
	if got := strings.Join(ran, ", "); got != "h v1, h v2" {
		t.Errorf("ran %q, want each value in order with the subject", got)
	}
	if err == nil || err.Error() != "Served/v2: wrong" {
		t.Errorf("Check = %v, want the failure prefixed with name/value", err)
	}
}
