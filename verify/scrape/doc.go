// Package scrape is the embedded metric source: a [verify.MetricSource]
// that reads each instance's own /metrics page, so that verification needs
// no Prometheus server.
//
// A [Source] is told which instances to read by a function you supply,
// Targets, which lists each instance's metrics URL and the version it runs
// (a fleet adapter lists its running instances; [Static] lists a fixed
// set). Each scrape round lists the targets, fetches every page
// concurrently, parses it with the text-format parser of
// prometheus/common/expfmt (UTF-8 names included) and keeps the series it
// needs, stamped with the time the round began:
//
//	src := &scrape.Source{
//		Targets: listInstances, // your func(ctx) ([]scrape.Target, error)
//		Metrics: promcount.Metrics{Business: "orders_total"},
//	}
//	go src.Run(ctx, 15*time.Second)
//	plan.Metrics = src
//
// By default it reads what client_golang's instrumentation exposes:
// http_requests_total, whose "code" label matching 5.. marks errors, and
// the buckets of http_request_duration_seconds. Its Metrics — the same
// [promcount.Metrics] as the Prometheus source's, with the same defaults —
// rename them and name a business counter. Every series of a metric
// counts, whatever its other labels; instances are grouped by the version
// their Target gives.
//
// A metric that no page scraped in a window has, of any version, is named
// rather than read as zero: the requests metric fails Observe with a
// [*verify.MetricNotFoundError]; the latency and business metrics are
// left out, with that error's text among the Warnings, which
// [verify.MetricsNotFound] reads back. Its name is most likely misspelt.
//
// # How a window is measured
//
// Observe measures [Start, End) between two scrape rounds: the first round
// at or after Start, and the first at or after End. If no round is at or
// after End yet, Observe scrapes now, so an executor asking at the end of
// each interval gets fresh data with or without Run; if End is still after
// the newest round (a window reaching into the future), the newest round
// closes it and the Observation warns. For each instance of the version,
// and each of its series, the count is the increase from the series' last
// sample at or before the opening round to its last sample at or before
// the closing round, computed exactly by internal/counter, and the
// instances' counts are summed. (The Source keeps, per scrape, each
// instance's running totals rather than every series' sample, so that its
// memory does not grow with the number of series: about 8 MB for an hour
// of 1-second scrapes of 10 instances × 1,000 series.) So the traffic between two consecutive
// rounds counts in the window that holds the earlier round: windows never
// overlap, adjacent windows add up to their union, and a window in which
// no round falls has no data (verify.ErrNoData). Each end of the measure
// lags the window's by less than one scrape interval; when Observe scrapes
// at End, only by the moment the call takes.
//
// Counters restart with their process; the count handles it:
//
//   - a series that decreases restarted from zero, and its new value counts
//     in full (a restart between two scrapes whose counter grows back past
//     its old value goes unseen, as in Prometheus);
//   - a series an instance stops exposing restarted too (a live process
//     never drops a counter), and counts from zero when it comes back;
//   - an instance first listed after the Source's first round started
//     since, and counts from zero; one listed from the first round may
//     have served for hours, and counts from its first sample;
//   - an instance that disappears counts what it served up to its last
//     scrape; what it served after that is lost.
//
// A target that cannot be scraped — refused, timed out, answering a status
// other than 200 or a page that does not parse — is a gap for that
// instance, not a failure of the round: its traffic is counted at its next
// successful scrape (in the window holding it), and every Observation over
// a window with gaps lists them in Warnings. A version none of whose
// instances was scraped successfully in a window has no data for it.
//
// Latency buckets are summed by [promcount.Buckets], as the Prometheus
// source sums them: histograms (of one page, or of several instances)
// whose bounds differ keep the bounds they all share, with a warning; a
// bucket whose "le" is not a number drops the latency of the windows that
// hold its scrape, with a warning naming it, while the counts stand.
// Values no counter holds (NaN, negative, infinite) are skipped, as if the
// series were not on the page.
//
// The Source keeps Retention (an hour by default) of history. A window
// that starts before the oldest round kept — or before the Source first
// scraped — is measured from that round, and the Observation warns when
// that leaves more than a tenth of the window out: start Run before the
// windows you will ask about, the baseline's included.
//
// The package passes the verifytest conformance suite against real
// instrumented HTTP servers, with exact counts.
package scrape
