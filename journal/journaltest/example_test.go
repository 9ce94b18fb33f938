package journaltest_test

import (
	"context"
	"fmt"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/journaltest"
)

// lastWriterWins appends under whichever lease is the key's newest, not
// the caller's: the mistake of a journal that checks that a lease exists
// rather than that the writer holds it. A holder that stalled past its
// lease would go on writing after another took over.
type lastWriterWins struct{ journal.Memory }

func (j *lastWriterWins) Append(ctx context.Context, l journal.Lease, run string, es ...journal.Entry) (int64, error) {
	cur, err := j.Holder(ctx, l.Key)
	if err != nil {
		return 0, err
	}
	return j.Memory.Append(ctx, cur, run, es...)
}

// Check names each check a journal fails and what the journal did wrong.
func ExampleCheck() {
	check := func(newJournal func() (journal.Journal, error)) {
		if err := journaltest.Check(context.Background(), newJournal); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("ok")
	}
	check(func() (journal.Journal, error) { return new(journal.Memory), nil })
	check(func() (journal.Journal, error) { return new(lastWriterWins), nil })
	// Output:
	// ok
	// FencingSuperseded: Append to run-1 under a lease that was superseded succeeded; want an error wrapping journal.ErrFenced
	// FencingSuperseded: Entries(run-1, 0) after writes under a lease that was superseded = [{1 phase "deploy"} {2 intent "start v2" {"op":"start","version":"v2"}}]; want [{1 phase "deploy"}]
	// FencingSuperseded: Append under a made-up lease (shop/production token 3) succeeded; want an error wrapping journal.ErrFenced
	// FencingSuperseded: Append under a made-up lease (shop/production token 0) succeeded; want an error wrapping journal.ErrFenced
	// FencingSuperseded: Append(run-1, 1 entries) = 5; want the run's last Seq, 2
	// FencingExpired: Append to run-1 under a lease that expired and was taken succeeded; want an error wrapping journal.ErrFenced
	// FencingExpired: Entries(run-1, 0) after writes under a lease that expired and was taken = [{1 phase "deploy"} {2 intent "start v2" {"op":"start","version":"v2"}}]; want [{1 phase "deploy"}]
	// FencingExpired: Append(run-1, 1 entries) = 3; want the run's last Seq, 2
}
