package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/sqlite"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "journal")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	j, err := sqlite.Open(ctx, filepath.Join(dir, "journal.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()

	key := journal.Key("shop", "production")
	l, err := j.Acquire(ctx, key, "deployer-1", time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	if err := j.Begin(ctx, l, journal.Run{ID: "run-1", Key: key, Service: "shop", Environment: "production", From: "v1", To: "v2"}); err != nil {
		log.Fatal(err)
	}
	intent, err := journal.NewEntry(journal.TypeIntent, "start v2", journal.Change{Op: "start", Version: "v2"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := j.Append(ctx, l, "run-1", intent); err != nil {
		log.Fatal(err)
	}
	// Another process, an operator's, pauses the run.
	if _, err := j.Post(ctx, "run-1", journal.Control{Op: journal.Pause, Who: "alice", Why: "looking at a dashboard"}); err != nil {
		log.Fatal(err)
	}
	// A second deployer finds the lease taken.
	_, err = j.Acquire(ctx, key, "deployer-2", time.Minute)
	fmt.Println(errors.Is(err, journal.ErrHeld))

	es, err := j.Entries(ctx, "run-1", 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range es {
		fmt.Println(e.Seq, e.Type, e.Message)
	}
	// Output:
	// true
	// 1 intent start v2
	// 2 control alice asked to pause: looking at a dashboard
}

// A file that is not a journal is refused, and left as it was.
func ExampleOpen_notAJournal() {
	dir, err := os.MkdirTemp("", "journal")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(path, []byte("not a database, but a rather long text file that someone named by mistake"), 0o600); err != nil {
		log.Fatal(err)
	}

	_, err = sqlite.Open(context.Background(), path)
	fmt.Println(errors.Is(err, journal.ErrCorrupt))
	// Output:
	// true
}
