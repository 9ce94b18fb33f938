package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"
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

// The fleet serves its state as the issue asks: instances with their
// versions, and the traffic per version in percent.
func TestFleetServesState(t *testing.T) {
	port, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-rps", "50"}, &out) }()

	var state struct {
		Instances []struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"instances"`
		Traffic map[string]float64 `json:"traffic"`
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/state", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(url)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&state)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no state at %s: %v\n%s", url, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
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
