package postgres

import (
	"testing"

	"github.com/safedeploy/safedeploy/internal/testserver/pgtest"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/internal/jbench"
)

// benchmark runs bench on a journal in a new database on the test server,
// over TCP on 127.0.0.1. The server runs as pgtest runs it, with fsync
// off (a command-line setting no session can change): the figures leave
// out the commit's flush to disk, which a production server adds.
func benchmark(b *testing.B, bench func(*testing.B, journal.Journal)) {
	j, err := Open(b.Context(), pgtest.Database(b))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	bench(b, j)
}

func BenchmarkAppend(b *testing.B) { benchmark(b, jbench.Append) }
func BenchmarkRenew(b *testing.B)  { benchmark(b, jbench.Renew) }
