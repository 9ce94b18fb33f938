// Package strategytest helps test code on both sides of [strategy.Fleet].
//
// To test code that deploys — a strategy, a deploy plan, a whole rollback —
// give it a [Fleet]: an in-process simulated fleet that is at once a
// strategy.Fleet, a strategy.Router, a strategy.Switch and a
// verify.MetricSource, so a whole deployment (and its undo) runs in a test,
// in milliseconds under testing/synctest:
//
//	fleet := strategytest.NewFleet(strategytest.Config{
//		Version: "v1", Instances: 8, RPS: 100,
//		Behaviors: map[string]strategytest.Behavior{"v2": {ErrorRate: 0.08}},
//	})
//	target := strategy.Target{Fleet: fleet, Router: fleet}
//
// Each version's [Behavior] says how it serves (error rate, latency,
// business events) and how it fails (slow to start, never ready, crashing at
// start, failing to stop, metrics that cannot be read). A fleet of any size
// costs time and memory linear in what is done to it, so 10,000 instances
// are as easy to test as 10.
//
// # Faults
//
// [Fleet.SetFaults] breaks chosen calls of any method, for tests that check
// what a deployment does when its target misbehaves. A [Fault] names the
// method (Instances, Start, Stop, Route or Switch), optionally the version
// and which of the matching calls (After, Times), and what happens: an error,
// a hang until the call's context ends, or a panic.
//
//	// From the fifth Start of v2 on, instances crash: with four new
//	// instances a batch, the second batch fails.
//	crash := strategytest.Fault{Op: strategytest.OpStart, Version: "v2", After: 4, Err: errCrash}
//	// The second instance of v2 never becomes ready.
//	stuck := strategytest.Fault{Op: strategytest.OpStart, Version: "v2", After: 1, Times: 1, Hang: true}
//	// The router fails only when traffic moves back, as an undo moves it.
//	noWayBack := strategytest.Fault{Op: strategytest.OpRoute, Back: true, Err: errRouter}
//	// Every Stop panics.
//	panics := strategytest.Fault{Op: strategytest.OpStop, Panic: "nil map"}
//
//	err := fleet.SetFaults(noWayBack) // or any of them together
//
// [Fleet.State] returns where the fleet ended up: instances by version (and
// those not ready), the router's split or the switch's target, and the share
// of requests each version serves. [State.AllOn] checks in one call that a
// deployment, or its undo, left everything on one version:
//
//	if err := fleet.State().AllOn("v1"); err != nil {
//		t.Error(err) // names every instance, weight or switch left elsewhere
//	}
//
// # Conformance
//
// To test a Fleet of your own — an adapter for your virtual machines, your
// orchestrator, your processes — call [Run] from one of its tests, in the
// manner of testing/slogtest:
//
//	func TestFleet(t *testing.T) {
//		strategytest.Run(t, "v1", func(t *testing.T) strategy.Fleet { return newTestFleet(t) })
//	}
//
// [Run] checks that the fleet lists, starts and stops instances as the
// strategies rely on, including with a cancelled context and from many
// goroutines at once. [Check] runs the same checks outside a test, with a
// context of your own, and returns one error listing every failure, or nil.
package strategytest
