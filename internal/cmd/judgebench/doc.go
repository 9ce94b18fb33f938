// Judgebench simulates canary deployments and compares rollback judges side
// by side: verify's default sequential judge against the rules tools
// commonly apply, a one-look test and an oracle. The results and how to
// read them are in docs/judges.md; reproduce them with
//
//	go run ./internal/cmd/judgebench            # about two minutes on 2 cores
//	go run ./internal/cmd/judgebench -quick     # a smoke run, about 15 s
//
// # The model
//
// A deployment is observed for 60 one-minute intervals after a 15-minute
// pre-deploy baseline. Traffic totals 1,000 requests a minute (Poisson),
// split between the canary (its share: 1%, 5%, 50%, or a ramp 1% → 5% →
// 25% → 50% every 15 minutes) and the concurrent control. Each request
// fails with probability 1% and is a business event with probability 5%
// (binomial given the requests); latencies are log-normal (median 50 ms,
// σ 0.5 of log latency), counted in Prometheus' default buckets. A cell
// may then change the canary from its onset — errors ×k, every latency
// ×k (the P95 moves by as much), or only the slowest 2% of requests 5×
// slower — and add nuisances: a daily cycle of traffic (log amplitude 0.7)
// and errors (1.0) on its steepest part, hitting both arms and the
// baseline; a 5-minute shared incident (errors ×5 in both arms); per-arm,
// per-interval log-normal noise on the error and business rates (σ 0.3)
// and on latency (σ 0.1 of log latency); gaps (10% of intervals without
// data, 5% more without the control); and counter resets (one interval per
// arm reported as a raw delta after a restart: negative).
//
// # The judges
//
// Every judge sees the same simulated data:
//
//   - ours: verify.NewSequentialJudge with the zero Policy, run as the
//     executor runs it (Begin, Observe per interval with data, Conclude per
//     window), and with Policy{Binomial: true};
//   - (a) the canary's interval error rate against 2× the control's, rolled
//     back at the third failed interval (Argo Rollouts, Flagger);
//   - (b) the canary's interval error rate against 2× the pre-deploy
//     baseline's, rolled back at the first failure;
//   - (a′), (b′), (a″), (b″): (a) and (b) with the factor calibrated so that
//     they roll back as few deployments as ours in the no-change cell (′) or
//     in the cell exactly at the limit (″) at the same traffic share;
//   - (c) a one-sided Mann–Whitney test of per-interval error rates (Kayenta),
//     once at 60 minutes and every 10 minutes;
//   - (d) the exact conditional binomial test of "ratio ≤ 2" on the pooled
//     counts, once at 60 minutes, at the α ours gives the error rate;
//   - the oracle: an SPRT that knows the true ratio and onset.
//
// Runs are seeded by cell and index, so the output is the same whatever
// the number of workers.
package main
