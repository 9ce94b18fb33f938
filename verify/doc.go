// Package verify reads how a new version behaves and judges it against the
// old one.
//
// A MetricSource answers one question: what did version V do over the
// window [Start, End)? The answer is an Observation — requests (the
// exposure), errors, business events and a latency Histogram — so that
// evidence is weighed by traffic. "No data" (ErrNoData) and a failure to
// answer are distinct errors; neither is ever read as a pass.
// MetricSourceFunc adapts a function, and package verifytest scripts
// sources for tests and checks your own with a conformance suite.
//
// Before anything changes, the executor captures a Baseline: the old
// version over Policy.BaselineWindow. Then, at every Policy.Interval of an
// observed step, it hands the Judge an Interval: the new version, and the
// old one over the same interval where it still serves (the concurrent
// control). Judges are pure — observations in, Verdict out — so recorded
// data replays through them at full speed (package backtest). Begin starts
// each step's window; Observe returns Continue or Fail; Conclude, at the end
// of the window, returns Pass, Fail or Inconclusive.
//
// # The default judge
//
// NewSequentialJudge asks, per metric, whether the new version's rate is
// beyond the policy's multiple of its comparison's: errors per request,
// the share of requests slower than the baseline's P50, P95 and P99, and
// business events per request (a drop). The comparison is the concurrent
// control where there is one, which cancels seasonality and incidents that
// hit both versions; otherwise the pre-deploy baseline.
//
// Each metric is an anytime-valid sequential test: a mixture, over effect
// sizes, of likelihood ratios (conditional binomial on the new version's
// share of the events, given both versions' exposure; Poisson against the
// baseline rate without a control). Its evidence is an e-value: it may be
// read after every interval, and evidence carries across canary steps with
// different traffic splits, yet the chance it ever reaches 1/α while the new
// version is within its limit is at most α (Ville's inequality). Alpha is
// split evenly across the metrics, so the family-wise false-rollback rate is
// at most Policy.Alpha (5% by default). A correction for overdispersion —
// per-interval noise beyond binomial, as when one pod hiccups — is on by
// default (Policy.Binomial turns it off). Without a control, the baseline is
// itself a sample: the test compares with a confidence bound on its rate,
// so that chance in a short baseline is not taken for a regression.
//
// The confidence interval reported for each ratio is the confidence
// sequence of the same test: a metric fails exactly when its interval lies
// beyond the limit, so a line reading "ratio 7.4 in [1.4, 32]" can only end
// "ok" and one reading "in [2.3, 27]" only "FAILED" for a 2× limit.
//
// With the zero Policy:
//
//	error rate      fails above 2× the comparison's (a comparison rate
//	                below 0.1% counts as 0.1%)
//	latency         "significantly up": more than 1.2× as many requests
//	                slower than the baseline's P50, 2× as many slower than
//	                its P95 or 3× as many slower than its P99 — for a
//	                log-normal spread of σ 0.5, the median up ~14%, P95 up
//	                ~20%, P99 up ~25%
//	business rate   fails when events per request drop by more than 20%
//	confidence      a metric fails only when the data show its limit
//	                crossed; 95% family-wise
//	probes          any critical-path Probe failure fails at the end of
//	                its interval, without waiting for the window
//	source errors   3 failed reads in a row fail
//	windows         5 min per canary step, 15 min otherwise, 24 h for the
//	                final step of a significant feature; read every 1 min
//	data quality    a window passes only with new-version traffic, 100
//	                requests since the start, data for 80% of the window
//	                (gaps, counter resets), the traffic split near the
//	                step's weight, and, for a metric judged against the
//	                baseline alone, a baseline large enough to see a
//	                regression of the limit squared (4× errors for a 2×
//	                limit); otherwise it is Inconclusive
//	inconclusive    rolls back, unless Policy.Escalate says to go on
//
// docs/judges.md compares this judge with the usual threshold rules, a
// Mann–Whitney judge, a fixed-horizon test and the oracle, by simulation.
//
// NewThresholdJudge applies the same limits as fixed thresholds on the
// window's totals against the baseline, as tools commonly do; it is kept as
// a reference and for those who want exactly that. Policy.Judge selects a
// judge while keeping the policy.
//
// # Log patterns
//
// The fourth signal is the logs: a new version that starts logging
// "connection pool exhausted for shard 7" on a few requests in a hundred
// moves no error rate, yet is exactly the untested assumption a canary is
// for. A LogSource answers, like a MetricSource, what version V logged
// over [Start, End): a LogObservation lists the templates of its warning
// and error lines (LogPattern: the text with variables as "<*>", a count,
// an example line, when it was first seen) and counts every line. Package
// verify/logs mines the templates and implements the sources — its
// Collector reads the instances' own output, package verify/loki reads
// Grafana Loki — and the test, logs.Detector: per template, an
// anytime-valid sequential test that the new version logs it at more than
// PatternPolicy.MaxRatio (2) times the old version's rate per request, at
// family-wise confidence 1 − Alpha (99%, divided among the templates), and
// at least MinCount (3) lines. Its package documentation says how it
// controls false alarms and what they measured on public logs.
//
// The executor (deploy.Plan.Logs) reads both versions' logs every interval,
// with the metric source's requests as the exposure, and Policy.Patterns
// decides what a PatternFinding does to the Verdict, through
// PatternPolicy.Apply: PatternHold, the default, keeps the step from
// passing — the window ends Inconclusive, which asks Escalate and rolls
// back without it; PatternRollback fails the verdict at once;
// PatternReport only lists the finding. Hold is the default because a
// pattern test cannot tell a bug from a new log line meant to be there
// (a new feature's warning), while the error-rate rule already says
// whether users are hurt: the pattern is a question for a person, and
// without one the old version is the safe answer. Every Verdict of a
// deployment with a log source lists the findings so far in Patterns.
//
// The types the executor and the sources share — LogSource,
// LogObservation, LogPattern, PatternPolicy, PatternAction and
// PatternFinding — are defined here, and verify/logs names them as aliases
// (logs.Source, logs.Observation, logs.Policy, logs.Finding…), so that
// there is one type for each, verify does not import the miner, and code
// written against either name works with the other.
//
// Every Verdict carries the Measurements that produced it — the new
// version's rate and its comparison's (the control or the baseline, as
// Against says), the threshold, requests and window; from the sequential
// judge also their ratio, its confidence interval, the limit and the
// evidence — and a *Verdict is an error, so a failed deployment's error
// yields it to errors.As.
package verify
