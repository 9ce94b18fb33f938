// Package jbench holds the benchmarks every journal implementation runs,
// so that their figures compare.
package jbench

import (
	"context"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/journal"
)

// begin acquires a lease and begins a run under it.
func begin(b *testing.B, j journal.Journal) journal.Lease {
	b.Helper()
	ctx := context.Background()
	l, err := j.Acquire(ctx, "shop/production", "bench/1", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := j.Begin(ctx, l, journal.Run{ID: "run-1", Key: l.Key, Service: "shop", Environment: "production", From: "v1", To: "v2"}); err != nil {
		b.Fatal(err)
	}
	return l
}

// Append measures Append of one entry, an intent with its change, as the
// executor writes before each change to the target: a durable write with
// the lease checked in its transaction.
func Append(b *testing.B, j journal.Journal) {
	l := begin(b, j)
	e, err := journal.NewEntry(journal.TypeIntent, "route 5% to v2", journal.Change{Op: "route", Version: "v2", Stable: "v1", Weight: 5})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := j.Append(ctx, l, "run-1", e); err != nil {
			b.Fatal(err)
		}
	}
}

// Renew measures Renew of a live lease, as the executor does every few
// seconds while a run lasts.
func Renew(b *testing.B, j journal.Journal) {
	l := begin(b, j)
	ctx := context.Background()
	for b.Loop() {
		var err error
		if l, err = j.Renew(ctx, l, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
