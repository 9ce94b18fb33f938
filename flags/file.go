package flags

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/safedeploy/safedeploy/internal/atomicfile"
)

// ErrCorrupt is returned (wrapped) by every [File] operation when the file
// exists but does not hold a valid flag store.
var ErrCorrupt = errors.New("flags: corrupt flag file")

var _ Store = (*File)(nil)

// File is a Store that keeps flags in a JSON file, so that they survive
// restarts and people can review and edit them. The file holds one object
// whose "flags" array lists every flag, sorted by name:
//
//	{
//	  "flags": [
//	    {
//	      "name": "checkout-v2",
//	      "enabled": true,
//	      "description": "New checkout flow"
//	    }
//	  ]
//	}
//
// A flag without "description" has an empty one. A missing file is an empty
// store, but its directory must exist: a missing directory is more likely a
// wrong path than a new store, so every operation fails.
//
// Every operation reads the file afresh, so a File sees the changes made by
// other Files, other processes and people. Set and Delete write a complete
// new file in the same directory, flush it to disk and rename it over the old
// one: readers see the old store or the new one, never a mix, even if the
// writer crashes. The file keeps its permission bits; a new one gets 0644.
//
// A File is safe for concurrent use: it serializes its own Set and Delete
// calls. Two Files or two processes writing the same path at the same time
// can lose each other's changes (the last rename wins), so give each path a
// single writer.
//
// A file that is not valid JSON, has a field the format does not define, or
// holds an invalid or duplicate name is corrupt. Every operation on it fails
// with an error that wraps ErrCorrupt and names the path and the problem, and
// Set and Delete leave it as it is rather than overwrite it. Every operation
// returns ctx.Err(), without touching the file, if ctx is already done.
type File struct {
	path string
	mu   sync.Mutex // serializes read-modify-write in Set and Delete
}

// fileFormat is the JSON document a File reads and writes.
type fileFormat struct {
	Flags []Flag `json:"flags"`
}

// NewFile returns a File that keeps flags in the file at path. It does no
// I/O: the file is read by each operation and created by the first Set.
func NewFile(path string) *File {
	return &File{path: path}
}

// Get returns the named flag. It fails with an error wrapping ErrNotFound if
// the store has no such flag, ErrCorrupt if the file is corrupt, or the
// error from reading the file.
func (f *File) Get(ctx context.Context, name string) (Flag, error) {
	all, err := f.load(ctx)
	if err != nil {
		return Flag{}, err
	}
	flag, ok := all[name]
	if !ok {
		return Flag{}, fmt.Errorf("%w: %q in %s", ErrNotFound, name, f.path)
	}
	return flag, nil
}

// Set creates or replaces the flag named flag.Name and rewrites the file. It
// writes nothing if flag.Validate fails (returning its error, which wraps
// ErrInvalid) or the file is corrupt (an error wrapping ErrCorrupt);
// otherwise it fails only with the error from reading or writing the file.
func (f *File) Set(ctx context.Context, flag Flag) error {
	if err := flag.Validate(); err != nil {
		return err
	}
	return f.update(ctx, func(all map[string]Flag) error {
		all[flag.Name] = flag
		return nil
	})
}

// Delete removes the named flag and rewrites the file. It writes nothing,
// and fails with an error wrapping ErrNotFound, if the store has no such
// flag, or one wrapping ErrCorrupt if the file is corrupt; otherwise it fails
// only with the error from reading or writing the file.
func (f *File) Delete(ctx context.Context, name string) error {
	return f.update(ctx, func(all map[string]Flag) error {
		if _, ok := all[name]; !ok {
			return fmt.Errorf("%w: %q in %s", ErrNotFound, name, f.path)
		}
		delete(all, name)
		return nil
	})
}

// List returns every flag, sorted by name. It fails with an error wrapping
// ErrCorrupt if the file is corrupt, or with the error from reading it.
func (f *File) List(ctx context.Context) ([]Flag, error) {
	all, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	return sorted(all), nil
}

// update loads the store, applies change and saves the result. It holds f.mu
// throughout so that concurrent updates through f are not lost. Get and List
// need no lock: save renames a complete file into place.
func (f *File) update(ctx context.Context, change func(map[string]Flag) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	all, err := f.load(ctx)
	if err != nil {
		return err
	}
	if err := change(all); err != nil {
		return err
	}
	return f.save(all)
}

// load reads the store from f.path, returning a map the caller may change.
func (f *File) load(ctx context.Context) (map[string]Flag, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Dir(f.path)); err != nil {
			return nil, fmt.Errorf("flags: cannot use %s: %w", f.path, err)
		}
		return make(map[string]Flag), nil
	}
	if err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	all, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCorrupt, f.path, err)
	}
	return all, nil
}

// decode parses data in the File format. It is strict: anything that the
// next save would silently drop or change, such as a misspelt field, makes
// the file corrupt instead.
func decode(data []byte) (map[string]Flag, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc fileFormat
	if err := dec.Decode(&doc); err != nil {
		var syntax *json.SyntaxError
		switch {
		case errors.Is(err, io.EOF):
			return nil, errors.New("the file is empty")
		case errors.As(err, &syntax):
			return nil, fmt.Errorf("line %d: %w", 1+bytes.Count(data[:syntax.Offset], []byte("\n")), err)
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON object")
	}
	all := make(map[string]Flag, len(doc.Flags))
	for i, flag := range doc.Flags {
		if err := flag.Validate(); err != nil {
			return nil, fmt.Errorf("flags[%d]: %w", i, err)
		}
		if _, dup := all[flag.Name]; dup {
			return nil, fmt.Errorf("flags[%d]: Name %q appears more than once", i, flag.Name)
		}
		all[flag.Name] = flag
	}
	return all, nil
}

// save replaces f.path with all, atomically.
func (f *File) save(all map[string]Flag) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "&" and "<" readable in descriptions
	enc.SetIndent("", "  ")
	if err := enc.Encode(fileFormat{Flags: sorted(all)}); err != nil {
		return fmt.Errorf("flags: write %s: %w", f.path, err)
	}
	if err := atomicfile.Write(f.path, buf.Bytes()); err != nil {
		return fmt.Errorf("flags: write %s: %w", f.path, err)
	}
	return nil
}
