package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// apiLine matches the line that gives the API's address, capturing it.
var apiLine = regexp.MustCompile(`Its API: (http://127\.0\.0\.1:\d+) `)

// The fleet serves its state as the issue asks: instances with their
// versions, and the traffic per version in percent.
func TestFleetServesState(t *testing.T) {
	// Port 0: the command takes a free port itself and prints it, so that
	// no other server can take it between a look-up and the bind.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-rps", "50"}, &out) }()

	var state struct {
		Instances []struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"instances"`
		Traffic map[string]float64 `json:"traffic"`
	}
	var api string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if m := apiLine.FindStringSubmatch(out.String()); m != nil {
			api = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("exit code %d before serving its API:\n%s", code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no API address printed in a minute:\n%s", out.String())
		}
	}
	resp, err := http.Get(api + "/state")
	if err != nil {
		t.Fatalf("GET %s/state: %v\n%s", api, err, out.String())
	}
	err = json.NewDecoder(resp.Body).Decode(&state)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s/state: %v", api, err)
	}
	if len(state.Instances) != 4 {
		t.Errorf("%d instances, want 4", len(state.Instances))
	}
	for _, in := range state.Instances {
		if in.ID == "" || in.Version != "v1" {
			t.Errorf("instance %+v", in)
		}
	}
	if diff := cmp.Diff(map[string]float64{"v1": 100}, state.Traffic); diff != "" {
		t.Errorf("traffic (-want +got):\n%s", diff)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d after an interrupt:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "Stopped after") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestFleetRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", "0.0.0.0:8099"},
		{"-addr", "nonsense"},
		{"-instances", "0"},
		{"-rps", "-1"},
	} {
		var out bytes.Buffer
		if code := run(t.Context(), args, &out); code != 2 {
			t.Errorf("%v: exit code %d, want 2:\n%s", args, code, out.String())
		}
	}
}
