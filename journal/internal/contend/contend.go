// Package contend runs journals in several OS processes that contend for
// one lease, for the tests of journal implementations that processes
// share (a SQLite file, a PostgreSQL database).
//
// A test re-executes its own binary as children (Start); each child opens
// the journal and serves commands read from its stdin, one per line,
// answering each with one line (Serve). The parent sends commands to
// several children at once to make them race.
package contend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/journal"
)

// Serve serves commands from in on j, writing one line per command to
// out, until in ends or says "quit". It writes "ready" first. The
// commands, and their answers:
//
//	acquire KEY HOLDER TTL   ok TOKEN | held HOLDER TOKEN | error …
//	renew TTL                ok | fenced | error …      (the lease last acquired)
//	begin RUN                ok | fenced | error …
//	append RUN MESSAGE       ok SEQ | fenced | error …
//
// TTL is a Go duration. Errors that are not the journal's answer end
// Serve with an error.
func Serve(ctx context.Context, j journal.Journal, in io.Reader, out io.Writer) error {
	var l journal.Lease
	sc := bufio.NewScanner(in)
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	answer := func(ok string, err error) string {
		var he *journal.HeldError
		switch {
		case err == nil:
			return ok
		case errors.As(err, &he):
			return fmt.Sprintf("held %s %d", he.Lease.Holder, he.Lease.Token)
		case errors.Is(err, journal.ErrFenced):
			return "fenced"
		}
		return "error " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var reply string
		switch {
		case len(f) == 1 && f[0] == "quit":
			return nil
		case len(f) == 4 && f[0] == "acquire":
			ttl, err := time.ParseDuration(f[3])
			if err != nil {
				return err
			}
			got, err := j.Acquire(ctx, f[1], f[2], ttl)
			if err == nil {
				l = got
			}
			reply = answer("ok "+strconv.FormatInt(got.Token, 10), err)
		case len(f) == 2 && f[0] == "renew":
			ttl, err := time.ParseDuration(f[1])
			if err != nil {
				return err
			}
			got, err := j.Renew(ctx, l, ttl)
			if err == nil {
				l = got
			}
			reply = answer("ok", err)
		case len(f) == 2 && f[0] == "begin":
			reply = answer("ok", j.Begin(ctx, l, journal.Run{ID: f[1], Key: l.Key}))
		case len(f) == 3 && f[0] == "append":
			e := journal.Entry{Type: journal.TypeEvent, Message: f[2]}
			seq, err := j.Append(ctx, l, f[1], e)
			reply = answer("ok "+strconv.FormatInt(seq, 10), err)
		default:
			return fmt.Errorf("contend: unknown command %q", sc.Text())
		}
		if _, err := fmt.Fprintln(out, reply); err != nil {
			return err
		}
	}
	return sc.Err()
}

// A Proc is a child process serving commands.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	tb   testing.TB
}

// Start runs the test named test of this test binary as a child, with
// env added to its environment (which tells the test to call Serve), and
// returns once it said it is ready. tb.Cleanup ends it: it closes the
// child's stdin and waits for it to exit, and fails tb if it does not
// exit cleanly within 10s.
func Start(tb testing.TB, name, test string, env ...string) *Proc {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &Proc{Name: name, cmd: cmd, in: in, out: bufio.NewScanner(out), tb: tb}
	done := make(chan error, 1)
	tb.Cleanup(func() {
		in.Close()
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("child %s: %v\n%s", name, err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			tb.Errorf("child %s did not exit within 10s of its stdin closing; killed it\n%s", name, stderr.String())
		}
	})
	// The test binary may print lines of its own first (=== RUN with -v).
	var before []string
	for got := p.Reply(); got != "ready"; got = p.Reply() {
		if before = append(before, got); len(before) > 10 {
			tb.Fatalf("child %s did not say ready: %q\n%s", name, before, stderr.String())
		}
	}
	return p
}

// Race has n children, which start returns, race for one lease, and then
// checks that a stalled holder is fenced out across processes:
//
//   - All n send Acquire at once: exactly one must win, and the others
//     must be told that it holds the lease.
//   - The winner begins a run and shortens its lease to 150ms, then
//     stalls past it; another child takes the lease over, with a larger
//     token. The stalled winner's Append must be fenced, the new
//     holder's succeed.
//
// Then it reads the run's entries through j, the parent's own journal on
// the same storage: only the new holder's entry is there.
func Race(t *testing.T, n int, start func(name string) *Proc, j journal.Journal) {
	t.Helper()
	const key = "shop/production"
	procs := make([]*Proc, n)
	for i := range procs {
		procs[i] = start(fmt.Sprintf("child-%d", i))
	}
	for _, p := range procs {
		p.Send("acquire " + key + " " + p.Name + " 1m")
	}
	var winner *Proc
	var token int64
	replies := make([]string, n)
	for i, p := range procs {
		replies[i] = p.Reply()
		if tok, ok := strings.CutPrefix(replies[i], "ok "); ok {
			if winner != nil {
				t.Fatalf("two processes acquired the lease: %s and %s (answers %q)", winner.Name, p.Name, replies)
			}
			winner = p
			token, _ = strconv.ParseInt(tok, 10, 64)
		}
	}
	if winner == nil {
		t.Fatalf("no process acquired the free lease: answers %q", replies)
	}
	for i, p := range procs {
		if p != winner && replies[i] != fmt.Sprintf("held %s %d", winner.Name, token) {
			t.Errorf("%s answered %q; want held %s %d", p.Name, replies[i], winner.Name, token)
		}
	}

	if got := winner.Do("begin run-1"); got != "ok" {
		t.Fatalf("%s: begin: %s", winner.Name, got)
	}
	if got := winner.Do("renew 150ms"); got != "ok" {
		t.Fatalf("%s: renew: %s", winner.Name, got)
	}
	time.Sleep(250 * time.Millisecond) // the winner stalls
	next := procs[0]
	if next == winner {
		next = procs[1]
	}
	got := next.Do("acquire " + key + " " + next.Name + " 1m")
	tok, ok := strings.CutPrefix(got, "ok ")
	if newer, _ := strconv.ParseInt(tok, 10, 64); !ok || newer <= token {
		t.Fatalf("%s: acquire after %s's lease expired: %s; want ok with a token above %d", next.Name, winner.Name, got, token)
	}
	if got := winner.Do("append run-1 stalled-write"); got != "fenced" {
		t.Errorf("%s: append after its lease was taken over: %s; want fenced", winner.Name, got)
	}
	if got := next.Do("append run-1 takeover"); got != "ok 1" {
		t.Errorf("%s: append to the run it took over: %s; want ok 1", next.Name, got)
	}
	es, err := j.Entries(t.Context(), "run-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Message != "takeover" {
		t.Errorf("entries of run-1 = %+v; want only the new holder's", es)
	}
	for _, p := range procs {
		p.Send("quit")
	}
}

// Send sends a command without waiting for its answer.
func (p *Proc) Send(command string) {
	p.tb.Helper()
	if _, err := fmt.Fprintln(p.in, command); err != nil {
		p.tb.Fatalf("child %s: sending %q: %v", p.Name, command, err)
	}
}

// Reply reads the answer to the oldest command not yet answered: the
// child's next line of output.
func (p *Proc) Reply() string {
	p.tb.Helper()
	if !p.out.Scan() {
		p.tb.Fatalf("child %s: no answer: %v", p.Name, p.out.Err())
	}
	return p.out.Text()
}

// Do sends a command and returns its answer.
func (p *Proc) Do(command string) string {
	p.tb.Helper()
	p.Send(command)
	return p.Reply()
}
