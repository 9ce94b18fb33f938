package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/postgres"
)

// Two deployers on different hosts share a journal in PostgreSQL: the
// second is told who holds the lease, and what it is running.
func ExampleOpen() {
	ctx := context.Background()
	j, err := postgres.Open(ctx, os.Getenv("JOURNAL_URL")) // postgres://deployer@db.internal/deploys
	if err != nil {
		log.Fatal(err) // an unreachable server; journal.ErrCorrupt for tables that are not the journal's
	}
	defer j.Close()

	host, _ := os.Hostname()
	l, err := j.Acquire(ctx, journal.Key("shop", "production"), fmt.Sprintf("%s/%d", host, os.Getpid()), 30*time.Second)
	var held *journal.HeldError
	if errors.As(err, &held) {
		fmt.Printf("%s is deploying %s, started %s\n", held.Lease.Holder, held.Run, held.Started.Format(time.Kitchen))
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer j.Release(ctx, l)
	// … deploy, renewing l every 10s; a Renew or write that fails with
	// journal.ErrFenced means another deployer took over: stop at once.
}

// A journal in an application's own database, through its pool.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	j, err := postgres.New(ctx, pool) // creates the safedeploy_journal_* tables once
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close() // leaves the pool open
	runs, err := j.Runs(ctx, journal.Key("shop", "production"), 5)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range runs {
		fmt.Println(r.ID, r.From, "→", r.To, r.Outcome)
	}
}
