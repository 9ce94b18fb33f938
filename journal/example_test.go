package journal_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/safedeploy/safedeploy/journal"
)

// A holder that lost its lease cannot write: its token is no longer the
// key's newest. The holder that took over carries the run on.
func ExampleMemory() {
	ctx := context.Background()
	var j journal.Memory // ready to use
	key := journal.Key("shop", "production")

	a, err := j.Acquire(ctx, key, "host-a/1", time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	if err := j.Begin(ctx, a, journal.Run{ID: "run-1", Key: key, From: "v1", To: "v2"}); err != nil {
		log.Fatal(err)
	}
	intent, err := journal.NewEntry(journal.TypeIntent, "route 5% to v2", journal.Change{Op: "route", Version: "v2", Stable: "v1", Weight: 5})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := j.Append(ctx, a, "run-1", intent); err != nil {
		log.Fatal(err)
	}

	_, err = j.Acquire(ctx, key, "host-b/2", time.Minute)
	var held *journal.HeldError
	if errors.As(err, &held) {
		fmt.Println(errors.Is(err, journal.ErrHeld), held.Lease.Holder, held.Run)
	}

	// host-a stalls; its lease ends (here by Release, in life by expiry)
	// and host-b takes over with a larger token.
	if err := j.Release(ctx, a); err != nil {
		log.Fatal(err)
	}
	b, err := j.Acquire(ctx, key, "host-b/2", time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tokens:", a.Token, b.Token)

	_, err = j.Append(ctx, a, "run-1", intent)
	fmt.Println(errors.Is(err, journal.ErrFenced), err)

	es, err := j.Entries(ctx, "run-1", 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range es {
		c, err := journal.ChangeOf(e)
		fmt.Println(e.Seq, e.Type, c.Op, c.Weight, err)
	}
	// Output:
	// true host-a/1 run-1
	// tokens: 1 2
	// true journal: fenced by a newer lease: shop/production token 1 (newest 2)
	// 1 intent route 5 <nil>
}
