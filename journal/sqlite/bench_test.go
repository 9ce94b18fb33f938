package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/safedeploy/safedeploy/journal/internal/jbench"
)

// openBench opens a journal in a new file in b.TempDir.
func openBench(b *testing.B) *Journal {
	j, err := Open(b.Context(), filepath.Join(b.TempDir(), "journal.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	return j
}

func BenchmarkAppend(b *testing.B) { jbench.Append(b, openBench(b)) }
func BenchmarkRenew(b *testing.B)  { jbench.Renew(b, openBench(b)) }
