package logs

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// LoghubEnv names the environment variable that points the Loghub
// evaluation at a checkout of the Loghub samples (a directory holding
// HDFS/HDFS_2k.log_structured.csv and the like). Without it the evaluation
// is skipped: the data is not part of this repository.
const loghubEnv = "SAFEDEPLOY_LOGHUB"

// drainGA is Drain's grouping accuracy on the Loghub 2k samples, as
// published in Zhu et al., "Tools and Benchmarks for Automated Log
// Parsing", ICSE-SEIP 2019 (Table III), and reproduced in the logparser
// project's docs/benchmark.md.
var drainGA = map[string]float64{
	"HDFS": 0.998, "Hadoop": 0.948, "Spark": 0.920, "Zookeeper": 0.967,
	"OpenStack": 0.733, "BGL": 0.963, "HPC": 0.887, "Thunderbird": 0.955,
	"Windows": 0.997, "Linux": 0.690, "Mac": 0.787, "Android": 0.911,
	"HealthApp": 0.780, "Apache": 1.000, "OpenSSH": 0.788, "Proxifier": 0.765,
}

// labeled is one message of a labeled sample and its true template.
type labeled struct{ content, event string }

// readStructured reads a Loghub *_structured.csv: its Content and EventId
// columns.
func readStructured(path string) ([]labeled, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, err
	}
	content, event := slices.Index(head, "Content"), slices.Index(head, "EventId")
	if content < 0 || event < 0 {
		return nil, fmt.Errorf("%s: no Content or EventId column in %v", path, head)
	}
	var out []labeled
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, labeled{rec[content], rec[event]})
	}
}

// groupingAccuracy is the share of messages whose predicted group holds
// exactly the messages of their true group (Zhu et al.'s definition).
func groupingAccuracy(truth, predicted []string) float64 {
	type pair struct{ t, p string }
	byTruth, byPred, byBoth := map[string]int{}, map[string]int{}, map[pair]int{}
	for i := range truth {
		byTruth[truth[i]]++
		byPred[predicted[i]]++
		byBoth[pair{truth[i], predicted[i]}]++
	}
	correct := 0
	for pr, n := range byBoth {
		if byTruth[pr.t] == n && byPred[pr.p] == n {
			correct += n
		}
	}
	return float64(correct) / float64(len(truth))
}

// templatesAtEnd mines messages in order and returns each one's template
// at the end of the run, as examples/logs -json prints it.
func templatesAtEnd(m *Miner, messages []string) []string {
	ids := make([]ID, len(messages))
	for i, msg := range messages {
		ids[i] = m.Add(msg)
	}
	out := make([]string, len(messages))
	for i, id := range ids {
		out[i] = m.Template(id)
	}
	return out
}

func TestLoghubGroupingAccuracy(t *testing.T) {
	dir := os.Getenv(loghubEnv)
	if dir == "" {
		t.Skipf("set %s to a checkout of the Loghub 2k samples (github.com/logpai/loghub) to measure grouping accuracy", loghubEnv)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range drainGA {
			if !yield(k) {
				return
			}
		}
	})
	var ours, theirs float64
	var report strings.Builder
	fmt.Fprintf(&report, "%-12s %8s %8s %10s\n", "dataset", "ours", "Drain", "templates")
	for _, name := range names {
		data, err := readStructured(filepath.Join(dir, name, name+"_2k.log_structured.csv"))
		if err != nil {
			t.Fatal(err)
		}
		messages, truth := make([]string, len(data)), make([]string, len(data))
		for i, d := range data {
			messages[i], truth[i] = d.content, d.event
		}
		var m Miner
		// Knobs for sweeping the parameters; the figures in the package
		// documentation are for the defaults.
		if v := os.Getenv("LOGHUB_SIMILARITY"); v != "" {
			fmt.Sscan(v, &m.Similarity)
		}
		if v := os.Getenv("LOGHUB_MAX_VALUES"); v != "" {
			fmt.Sscan(v, &m.MaxValues)
		}
		ga := groupingAccuracy(truth, templatesAtEnd(&m, messages))
		ours += ga
		theirs += drainGA[name]
		fmt.Fprintf(&report, "%-12s %8.3f %8.3f %10d\n", name, ga, drainGA[name], m.Len())
	}
	n := float64(len(names))
	fmt.Fprintf(&report, "%-12s %8.3f %8.3f\n", "average", ours/n, theirs/n)
	t.Log("\n" + report.String())
	if ours/n < theirs/n {
		t.Errorf("average grouping accuracy %.3f is below Drain's published %.3f", ours/n, theirs/n)
	}
}
