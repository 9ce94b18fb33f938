// Command report renders the record of a deployment — runbook.Record as
// JSON, as Record.JSON writes it — as one self-contained HTML page:
//
//	go run ./examples/report -o run.html record.json
//	go run ./examples/report < record.json > run.html
//
// It exits 1 when the record cannot be read or the page cannot be written,
// and 2 on a bad command line.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/safedeploy/safedeploy/report"
	"github.com/safedeploy/safedeploy/runbook"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the command, testable: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the page to this file (default: standard output)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: report [-o FILE.html] [RECORD.json]\nRenders a deployment's record (JSON, from standard input without a file) as an HTML page.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	in, name := stdin, "standard input"
	if fs.NArg() == 1 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "report:", err)
			return 1
		}
		defer f.Close()
		in, name = f, fs.Arg(0)
	}
	rec, err := read(in)
	if err != nil {
		fmt.Fprintf(stderr, "report: %s: %v\n", name, err)
		return 1
	}
	if *out != "" {
		_, err = report.WriteFile(*out, rec)
	} else {
		var page bytes.Buffer
		if err = report.Write(&page, rec); err == nil {
			if _, werr := stdout.Write(page.Bytes()); werr != nil {
				err = fmt.Errorf("report: %w", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// read decodes one record. A JSON document with neither a runbook nor
// entries is refused: it is not a record.
func read(r io.Reader) (*runbook.Record, error) {
	var raw map[string]json.RawMessage
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON record: %w", err)
	}
	_, hasRunbook := raw["runbook"]
	_, hasEntries := raw["entries"]
	if !hasRunbook && !hasEntries {
		return nil, errors.New("not a record: no \"runbook\" and no \"entries\"")
	}
	var rec runbook.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("not a record: %w", err)
	}
	return &rec, nil
}
