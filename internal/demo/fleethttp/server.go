package fleethttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/safedeploy/safedeploy/internal/demo/loopback"
)

// maxBody bounds a request body.
const maxBody = 1 << 16

// A Server serves a loopback fleet's API (see the package documentation).
// It is safe for concurrent use.
type Server struct {
	fleet   *loopback.Fleet
	mux     *http.ServeMux
	changes atomic.Int64
}

// NewServer returns a Server for f.
func NewServer(f *loopback.Fleet) *Server {
	s := &Server{fleet: f, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /state", s.state)
	s.mux.HandleFunc("GET /targets", s.targets)
	s.mux.HandleFunc("POST /instances", s.start)
	s.mux.HandleFunc("DELETE /instances/{id}", s.stop)
	s.mux.HandleFunc("GET /routing", s.routing)
	s.mux.HandleFunc("PUT /routing", s.route)
	s.mux.HandleFunc("GET /switch", s.current)
	s.mux.HandleFunc("PUT /switch", s.switchTo)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Changes returns how many changes the fleet has accepted: starts (counted
// when asked for, ready or not), stops, routes and switches.
func (s *Server) Changes() int64 { return s.changes.Load() }

// State returns what the fleet does now, as GET /state answers.
func (s *Server) State() State {
	st := s.fleet.State()
	out := State{Traffic: st.Traffic, Switch: st.Active, Proxy: s.fleet.URL(), Changes: s.changes.Load(), Instances: []Instance{}}
	for _, in := range st.Instances {
		out.Instances = append(out.Instances, Instance{ID: in.ID, Version: in.Version, Ready: in.Ready, Metrics: in.Metrics})
	}
	if st.Stable != "" || st.Canary != "" {
		out.Routing = &Routing{Stable: st.Stable, Canary: st.Canary, Weight: st.Weight}
	}
	return out
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, s.State()) }

func (s *Server) targets(w http.ResponseWriter, r *http.Request) {
	out := []Target{}
	for _, in := range s.fleet.State().Instances {
		out = append(out, Target{URL: in.Metrics, Version: in.Version})
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	var b startBody
	if !decode(w, r, &b) {
		return
	}
	if err := checkVersion("version", b.Version); err != nil {
		fail(w, http.StatusBadRequest, err, "")
		return
	}
	if b.Behavior != nil {
		if err := b.Behavior.Validate(); err != nil {
			fail(w, http.StatusBadRequest, err, "")
			return
		}
		s.fleet.SetApp(b.Version, b.Behavior.app())
	}
	s.changes.Add(1)
	// The request's context: a deployer that goes away takes its start
	// with it, and the instance it asked for is left warming up, listed,
	// for its successor to stop.
	id, err := s.fleet.Start(r.Context(), b.Version)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err, id)
		return
	}
	reply(w, http.StatusOK, idBody{ID: id})
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	known := false
	for _, in := range s.fleet.State().Instances {
		known = known || in.ID == id
	}
	if !known {
		fail(w, http.StatusNotFound, fmt.Errorf("no instance %q", id), "")
		return
	}
	if err := s.fleet.Stop(r.Context(), id); err != nil {
		fail(w, http.StatusNotFound, err, "") // stopped meanwhile
		return
	}
	s.changes.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) routing(w http.ResponseWriter, r *http.Request) {
	st := s.fleet.State()
	reply(w, http.StatusOK, Routing{Stable: st.Stable, Canary: st.Canary, Weight: st.Weight})
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	var b Routing
	if !decode(w, r, &b) {
		return
	}
	err := errors.Join(checkVersion("stable", b.Stable), checkVersion("canary", b.Canary))
	if !(b.Weight >= 0 && b.Weight <= 100) {
		err = errors.Join(err, fmt.Errorf("weight = %g: must be a percentage in [0, 100]", b.Weight))
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err, "")
		return
	}
	if err := s.fleet.Route(r.Context(), b.Stable, b.Canary, b.Weight); err != nil {
		fail(w, http.StatusBadRequest, err, "")
		return
	}
	s.changes.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) current(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, switchBody{Version: s.fleet.State().Active})
}

func (s *Server) switchTo(w http.ResponseWriter, r *http.Request) {
	var b switchBody
	if !decode(w, r, &b) {
		return
	}
	if err := checkVersion("version", b.Version); err != nil {
		fail(w, http.StatusBadRequest, err, "")
		return
	}
	if err := s.fleet.Switch(r.Context(), b.Version); err != nil {
		fail(w, http.StatusBadRequest, err, "")
		return
	}
	s.changes.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// checkVersion refuses an empty version, or one with spaces, slashes or
// control characters, naming the field.
func checkVersion(field, v string) error {
	if v == "" || len(v) > 100 || strings.ContainsFunc(v, func(r rune) bool { return r == '/' || unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return fmt.Errorf("%s = %q: must be a version name of 1 to 100 printable characters, without spaces or slashes", field, v)
	}
	return nil
}

// decode reads the request's JSON body into v, strictly, or answers 400
// and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("body: %w", err), "")
		return false
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

func fail(w http.ResponseWriter, status int, err error, id string) {
	reply(w, status, errorBody{Error: err.Error(), ID: id})
}
