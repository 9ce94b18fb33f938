package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/safedeploy/safedeploy/internal/atomicfile"
)

// A Promotion records that a version completed in an environment.
type Promotion struct {
	Service     string      `json:"service"`
	Version     string      `json:"version"`
	Environment Environment `json:"environment"`
	Time        time.Time   `json:"time"`
	// Trivial is the reason given when the version skipped the previous
	// environment as a trivial change; empty when it did not.
	Trivial string `json:"trivial,omitempty"`
}

// Promotions is the promotion history: which versions completed where.
// Production refuses a version that has not completed in staging.
// Implementations are safe for concurrent use.
type Promotions interface {
	// Record adds a completed deployment to the history.
	Record(ctx context.Context, p Promotion) error
	// History returns the service's promotions, oldest first.
	History(ctx context.Context, service string) ([]Promotion, error)
}

// completedIn reports whether version of service completed in env.
func completedIn(ctx context.Context, ps Promotions, service, version string, env Environment) (bool, error) {
	h, err := ps.History(ctx, service)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(h, func(p Promotion) bool {
		return p.Version == version && p.Environment == env
	}), nil
}

// MemoryPromotions is an in-memory Promotions. The zero value is empty and
// ready to use.
type MemoryPromotions struct {
	mu   sync.Mutex
	list []Promotion
}

// Record implements Promotions.
func (m *MemoryPromotions) Record(ctx context.Context, p Promotion) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list = append(m.list, p)
	return nil
}

// History implements Promotions.
func (m *MemoryPromotions) History(ctx context.Context, service string) ([]Promotion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Promotion
	for _, p := range m.list {
		if p.Service == service {
			out = append(out, p)
		}
	}
	return out, nil
}

// FilePromotions keeps the promotion history in a JSON file: an array of
// promotions, oldest first. A missing file is an empty history; writes
// replace the file atomically. It is safe for concurrent use within one
// process.
type FilePromotions struct {
	path string
	mu   sync.Mutex
}

// NewFilePromotions returns a history kept at path. It does no I/O.
func NewFilePromotions(path string) *FilePromotions { return &FilePromotions{path: path} }

// Record implements Promotions.
func (f *FilePromotions) Record(ctx context.Context, p Promotion) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	all, err := f.load(ctx)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(append(all, p), "", "  ")
	if err != nil {
		return fmt.Errorf("deploy: write promotions %s: %w", f.path, err)
	}
	if err := atomicfile.Write(f.path, append(data, '\n')); err != nil {
		return fmt.Errorf("deploy: write promotions %s: %w", f.path, err)
	}
	return nil
}

// History implements Promotions. A file that is not a JSON array of
// promotions is an error naming the path.
func (f *FilePromotions) History(ctx context.Context, service string) ([]Promotion, error) {
	all, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(p Promotion) bool { return p.Service != service }), nil
}

func (f *FilePromotions) load(ctx context.Context) ([]Promotion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deploy: read promotions: %w", err)
	}
	var all []Promotion
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&all); err != nil {
		return nil, fmt.Errorf("deploy: corrupt promotions file %s: %w", f.path, err)
	}
	return all, nil
}
