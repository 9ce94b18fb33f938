package backtest

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/safedeploy/safedeploy/verify"
)

// Write writes d in the replay format, so that Read returns it again: a
// header (time, arm, requests, errors, then business if any row has
// business events, then the le= columns of the histograms), and for each
// interval its baseline row, then its canary row. A row without latency
// leaves the le= cells empty. d.Length is not written: Read infers it from
// the spacing of the times.
//
// Write fails, before writing anything, with an error wrapping ErrInvalid
// when d cannot be written so: intervals out of time order, histograms with
// different bounds, or a histogram whose last bound is not +Inf or whose
// +Inf count differs from the row's requests. It returns the first error
// from w, wrapped.
func Write(w io.Writer, d *Data) error {
	var bounds []float64
	business := false
	for i, iv := range d.Intervals {
		if i > 0 && !iv.Time.After(d.Intervals[i-1].Time) {
			return fmt.Errorf("%w: interval %d (%s) is not after the one before", ErrInvalid, i, iv.Time.Format(time.RFC3339Nano))
		}
		for _, o := range []*verify.Observation{iv.Baseline, iv.Canary} {
			if o == nil {
				continue
			}
			business = business || o.Business != 0
			if len(o.Latency) == 0 {
				continue
			}
			if bounds == nil {
				for _, b := range o.Latency {
					bounds = append(bounds, b.UpperBound)
				}
			}
			if err := checkHistogram(o, bounds); err != nil {
				return fmt.Errorf("%w: interval %d (%s): %v", ErrInvalid, i, iv.Time.Format(time.RFC3339Nano), err)
			}
		}
	}

	cw := csv.NewWriter(w)
	head := []string{colTime, colArm, colRequests, colErrors}
	if business {
		head = append(head, colBusiness)
	}
	for _, b := range bounds {
		head = append(head, lePrefix+formatBound(b))
	}
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("backtest: writing: %w", err)
	}
	row := make([]string, 0, len(head))
	for _, iv := range d.Intervals {
		for _, arm := range []struct {
			name string
			o    *verify.Observation
		}{{ArmBaseline, iv.Baseline}, {ArmCanary, iv.Canary}} {
			if arm.o == nil {
				continue
			}
			o := arm.o
			row = append(row[:0], iv.Time.Format(time.RFC3339Nano), arm.name, formatCount(o.Requests), formatCount(o.Errors))
			if business {
				row = append(row, formatCount(o.Business))
			}
			for i := range bounds {
				if len(o.Latency) == 0 {
					row = append(row, "")
				} else {
					row = append(row, formatCount(o.Latency[i].Count))
				}
			}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("backtest: writing: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("backtest: writing: %w", err)
	}
	return nil
}

// checkHistogram reports why o's histogram cannot be written with bounds.
func checkHistogram(o *verify.Observation, bounds []float64) error {
	h := o.Latency
	if len(h) != len(bounds) {
		return fmt.Errorf("histogram has %d buckets where another has %d", len(h), len(bounds))
	}
	for i, b := range h {
		if b.UpperBound != bounds[i] {
			return fmt.Errorf("histogram bound %g where another has %g", b.UpperBound, bounds[i])
		}
		if i > 0 && !(b.UpperBound > h[i-1].UpperBound) {
			return fmt.Errorf("histogram bounds not increasing: %g after %g", b.UpperBound, h[i-1].UpperBound)
		}
	}
	if last := h[len(h)-1]; !math.IsInf(last.UpperBound, 1) {
		return fmt.Errorf("histogram's last bound is %g, not +Inf", last.UpperBound)
	} else if !sameCount(last.Count, o.Requests) {
		return fmt.Errorf("le=+Inf %s differs from requests %s", formatCount(last.Count), formatCount(o.Requests))
	}
	return nil
}

// formatBound writes a bucket bound as Prometheus does: 0.005, 2.5, +Inf.
func formatBound(b float64) string {
	if math.IsInf(b, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(b, 'g', -1, 64)
}
