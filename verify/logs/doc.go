// Package logs reads what versions log and finds the error patterns a new
// version brings: a line such as "connection pool exhausted for shard 7"
// or "nil pointer dereference in basket.Total" that the old version never
// logged, at a rate too low to move the error rate.
//
// # Templates
//
// A [Miner] turns log messages into templates online, in the family of
// Drain: "connection pool exhausted for shard 7" and "… shard 12" are one
// template, "connection pool exhausted for shard <*>". Obvious variables —
// any token with a digit (numbers, IP addresses, UUIDs, hex, durations,
// dates), long hex runs, month and day names — are masked before
// matching ([Mask]); a parse tree by token count and leading tokens finds
// the candidates; a message joins the most similar group if at least 60%
// of its tokens match. Where a group's messages differ by a word, up to 4
// distinct words are read as constants, each its own template ("GET" and
// "POST"); beyond that the position is a variable. Template IDs are
// stable; templates that become one merge, and the younger ID resolves to
// the older.
//
// [Parse] reads one line: JSON (slog, zap, zerolog, logrus, pino,
// bunyan) and logfmt lines give their message and error fields, joined by
// ": ", and their level; a plain text line is its own message, with a
// level from a level word among its first tokens or, failing that, from
// error and warning words anywhere in it (see Parse for the exact rule).
//
// Measured on the Loghub 2k samples (github.com/logpai/loghub), mining
// each line's Content with the defaults for every dataset, the grouping
// accuracy (the share of lines whose template groups exactly the lines of
// their true template) averages 0.899 over the 16 datasets, against 0.881
// for Drain with per-dataset parameters and regular expressions as
// published by Zhu et al., "Tools and Benchmarks for Automated Log
// Parsing" (ICSE-SEIP 2019, reproduced in logpai/logparser's
// docs/benchmark.md); 0.893 against the corrected templates of Loghub 2.0.
// Proxifier, whose true templates span messages of different lengths, is
// the outlier (0.05; Drain 0.77). The evaluation is TestLoghubGroupingAccuracy,
// run with SAFEDEPLOY_LOGHUB pointing at the samples.
//
// # Sources
//
// A [Source] (verify.LogSource, of which Source is an alias, as
// Observation, Pattern, Policy, Action and Finding are of verify's types:
// a deployment plan, deploy.Plan.Logs, takes one without package verify
// importing this one) answers, like verify.MetricSource, one question:
// what did version V log over [Start, End)? The [Observation] counts every line
// (Lines) and lists the templates of the warning and error lines
// ([Pattern]: ID, template, level, count, an example line, first sighting).
// Template IDs are consistent across versions and windows, so that the old
// version's lines of a template meet the new one's. "No data"
// (verify.ErrNoData) and failing to answer are distinct errors.
//
// The [Collector] is the embedded default: give it each version's output —
// [Collector.Writer] for a process's stdout and stderr, [Collector.ReadLines]
// for a log file, [Collector.Add] for a line at an explicit time — and it
// mines as lines arrive and answers from memory. Package verify/loki reads
// Grafana Loki instead; package logstest has a scripted Source for tests
// and a conformance suite for Sources of your own.
//
// # New patterns
//
// A [Detector] is fed one [Interval] at a time — the new version's
// [Sample] (an Observation and its exposure: the requests served, from the
// metric source) and the old version's over the same interval where it
// still serves (the concurrent control), else the pre-deploy baseline —
// and reports a [Finding] for each template, at or above Policy.Level
// (warnings), that the new version logs at more than MaxRatio (2) times
// the old version's rate per request, with evidence at family-wise
// confidence 1 − Alpha (99%). A Finding carries the template, an example
// line, the counts and exposures of both sides, and when it was first
// seen. [Compare] runs the same test once on two samples.
//
// False alarms are controlled three ways. Variables are not patterns:
// request IDs, times and user names are masked or become wildcards, so a
// template is a shape of message, not a message. Each template gets an
// anytime-valid sequential test of its rate against the old version's
// (conditional binomial given both versions' lines with a control,
// Poisson against an upper confidence bound on the baseline's rate
// without), so a template the old version logs once in a million requests
// is new only if the new version logs it far more often, and reading the
// evidence every interval costs nothing. And Alpha is divided among the
// templates (Bonferroni over at least Policy.Templates, 100), with at
// least MinCount (3) lines from the new version. The price is lines: a
// template the old version never logs is found after about 3 lines at a 1%
// canary, 5 at 5%, 11 at 25% and 25 at 50%.
//
// Measured on the Loghub 2k samples (TestLoghubNewPatterns, the raw
// lines with their headers, levels by Parse): comparing random halves of
// each sample, as a concurrent control sees them, no finding in 800
// comparisons (50 per dataset), nor in 160 comparisons each of 100,000
// lines a side and of a 5% canary (19,000 lines against 1,000), all drawn
// from the samples; comparing the first half of each sample with the
// second, as against a pre-deploy baseline, 10 findings in 6 of the 16
// datasets — real changes over time, such as Apache's "mod_jk child
// workerEnv in error state" going from 0 to 258 lines, which a concurrent
// control cancels and a baseline cannot. A new error template injected
// into the new side was found in every trial at 1% of 1,000 and at 0.1% of
// 10,000 new lines of a 5% canary (10 lines each), and on equal windows at
// 1% of 10,000 lines and 0.1% of 100,000 (100 lines); in none with 10
// lines on equal windows (1% of 1,000, 0.1% of 10,000), where about 25 are
// needed.
//
// Lines are modelled as independent events; logs are burstier than that,
// and a burst of a template the old version logs rarely is evidence
// whatever caused it. The concurrent control cancels causes that hit both
// versions; MinCount and the Bonferroni floor limit the rest.
//
// In a deployment, the executor (package deploy, with Plan.Logs set) runs
// a Detector over the whole run, fed every interval with both versions'
// logs and the requests the metric source counted, and
// verify.Policy.Patterns — this package's Policy — configures it.
// Policy.Action says what a finding does to the deployment
// (verify.PatternPolicy.Apply): Hold (the default) keeps the step from
// passing — its verdict is Inconclusive, which asks verify.Policy.Escalate,
// a person, and rolls back when there is no one to ask; Rollback fails the
// verdict; Report only lists it. Hold is the default because a pattern
// test cannot tell a bug from a new log line meant to be there, while the
// error-rate rule already says whether users are hurt: a person should
// look, and without one the old version is the safe answer. Findings are
// events (deploy.KindPattern), listed in every later verdict
// (verify.Verdict.Patterns), printed under the verdict line and kept in the
// runbook record. examples/canary -logbug shows it on a real fleet.
//
// Measured as a whole deployment: on the loopback fleet of
// examples/canary (2 cores shared, load 7–20), 15 good deployments with
// every instance's log in a Collector completed with no pattern found (10
// with the test's settings, 5 with the defaults), and 8 -logbug
// deployments (v2 logs a new error on 5% of requests) were each held in
// their first step and rolled back. deploy's
// TestLogPatternFalseAlarmsAndDetection simulates 100 canary deployments
// whose 30 error templates follow traffic as Poisson counts: none found a
// pattern when v2 logs them as v1 does, none when at twice v1's rate (the
// limit), and all found a new template on 0.5% of requests.
//
// Mining runs at about 2 million lines per second per core on
// service-like messages once their templates are known, allocation-free,
// and 0.6 million with JSON parsing (AMD EPYC, 2 cores shared, load 1–2;
// a third of that at load 11); a Miner holds about 630 KB per 1,000
// ten-word templates (BenchmarkMinerAdd, BenchmarkParseAndAdd,
// BenchmarkMinerMemory).
package logs
