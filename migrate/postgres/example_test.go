package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/migrate"
	"github.com/safedeploy/safedeploy/migrate/postgres"
)

// Pointing a deployment at the migrations goose already applies: the
// runner reads db/migrations and goose_db_version as goose does, and the
// deployment applies what is pending before any code changes, each
// statement giving up on a lock after two seconds and retried for up to
// two minutes. (This example needs a server, so it is compiled but not
// run; the package's tests run the same against a real PostgreSQL.)
func ExampleOpen() {
	r, err := postgres.Open(os.Getenv("DATABASE_URL"), os.DirFS("db/migrations"), postgres.Config{
		LockTimeout:      2 * time.Second,
		StatementTimeout: 30 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	plan := &deploy.Plan{
		// Service, versions, strategy, metrics… as for any deployment.
		Migrations:     r,
		MigrationRetry: 2 * time.Minute,
	}
	report, err := deploy.Run(context.Background(), plan)
	fmt.Println(report.Outcome, err)
}

// A statement that gave up waiting for a lock fails with SQLSTATE 55P03
// (lock_not_available); IsLockTimeout finds it however it is wrapped, and
// the runner's error then wraps migrate.ErrLockTimeout, which the executor
// retries. Other errors are not retried.
func ExampleIsLockTimeout() {
	timeout := fmt.Errorf("apply 00002_status.sql: %w", &pgconn.PgError{Code: postgres.LockNotAvailable, Message: "canceling statement due to lock timeout"})
	missing := &pgconn.PgError{Code: "42P01", Message: `relation "order_lines" does not exist`}
	fmt.Println(postgres.IsLockTimeout(timeout))
	fmt.Println(postgres.IsLockTimeout(missing))
	fmt.Println(postgres.IsLockTimeout(errors.New("connection refused")))
	// Output:
	// true
	// false
	// false
}

// Open checks its configuration without connecting: a runner must never
// wait for a lock forever, and the connection string must parse.
func ExampleOpen_config() {
	migrations := fstest.MapFS{"00001_orders.sql": {Data: []byte("-- +goose Up\nCREATE TABLE orders (id bigint PRIMARY KEY);\n")}}
	_, err := postgres.Open("postgres://localhost/shop", migrations, postgres.Config{LockTimeout: -time.Second})
	fmt.Println(err)
	r, err := postgres.Open("postgres://localhost/shop", migrations, postgres.Config{})
	fmt.Println(err)
	var runner migrate.Runner = r // set as deploy.Plan.Migrations
	fmt.Println(runner != nil, r.Close())
	// Output:
	// migrate/postgres: negative LockTimeout -1s: a migration must not wait for locks forever
	// <nil>
	// true <nil>
}
