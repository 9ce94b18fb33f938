package postgres_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/migrate/postgres"
)

// Pointing a deployment at the migrations goose already applies: the
// runner reads db/migrations and goose_db_version as goose does, and the
// deployment applies what is pending before any code changes, each
// statement giving up on a lock after two seconds and retried for up to
// two minutes.
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
