// Package strategy moves a service from one version to another step by step,
// and knows how to take every step back.
//
// # Strategies
//
// A [Strategy] has one method, Deploy. Given a [Target], a [Release] (the
// version serving now and the one to deploy) and a [Gate], it changes the
// target one step at a time, asks the gate at each [Step] whether to go on,
// and returns an [Undo] that reverts exactly what it changed:
//
//	undo, err := strategy.Canary{}.Deploy(ctx, target, strategy.Release{From: "v1", To: "v2"}, gate)
//	if err != nil && undo != nil {
//		err = errors.Join(err, undo(context.WithoutCancel(ctx)))
//	}
//
// # Targets
//
// A Target is made of small interfaces, so that a fleet of virtual machines,
// a Kubernetes Deployment or a set of processes can each be adapted in a few
// lines:
//
//   - [Fleet] lists, starts and stops instances. Every strategy needs one.
//     Start returns only once the instance is ready, so a strategy never
//     counts an unhealthy instance as capacity.
//   - [Router] splits traffic between two versions by weight. With one,
//     Canary steps are percentages of requests; without one, they are
//     shares of the instances.
//   - [Switch] sends all traffic to one version at once, as the router in
//     front of a blue/green pair does.
//
// Package strategytest has a simulated fleet that implements all three (and
// reports its traffic as a verify.MetricSource), can be made to fail in any
// of its methods, and says where a deployment left it; and Run and Check, a
// suite that checks a Fleet implementation keeps the contract the
// strategies rely on.
//
// # Built-in strategies
//
// Each is a struct whose zero value is ready to use:
//
//   - [Direct] starts a full new fleet, stops the old one, then observes for
//     15 minutes. Going back is a redeploy.
//   - [Rolling] replaces instances in health-gated batches of 25% surge and
//     25% unavailable, as a Kubernetes Deployment does, then observes the
//     whole new fleet for 15 minutes. Going back is a redeploy.
//   - [BlueGreen] starts a full new side beside the old, switches all traffic
//     to it, observes for 15 minutes and keeps observing for 30 seconds more
//     with the old side warm. Going back is one switch. It needs a Switch or
//     a Router.
//   - [Canary] sends 1%, 5%, 25%, 50% and then 100% of traffic to the new
//     version, observing each step for 5 minutes. With a Router, going back
//     is setting the weight to 0: the old version serves until the end.
//     Without one, the split is by instance count and going back restarts
//     the old instances replaced so far.
//
// A strategy with a Switch or Router holds every request on the old version
// until it routes to the new one, and each new instance must become ready
// within ReadyTimeout (10 minutes by default) of its Start or the deployment
// stops with an error wrapping [ErrUnhealthy]. A strategy starts or stops at
// most Concurrency instances at once ([DefaultConcurrency], 64, by default),
// in the deployment and in its undo; a larger batch goes in waves, and stops
// at its first failure. The built-ins implement [Validator],
// which names every invalid field with its value in one error, and
// [Describer], which says what they will do and how they go back, for
// pre-flight checks and runbooks. Deploy validates too, and refuses a fleet
// running anything but the previous version before changing anything.
//
// # Gates
//
// The [Gate] decides whether to go on. Each Step says how much traffic the
// new version has, how long the strategy wants it observed, and whether it
// is the last before the old version is retired. The deploy executor's gate
// watches metrics for the step's window and returns the failing verdict; in
// tests a [GateFunc] that records steps, or fails on a chosen one, is enough.
//
// # Undo
//
// Deploy returns an Undo even when it fails, unless it changed nothing; the
// caller decides whether to run it. Run it with a context that is not the
// one Deploy was cancelled with. The built-ins' Undo moves traffic back
// first, then restores the old instances they stopped, and only then stops
// the new ones, so the old version never runs short. What it cannot put
// back it reports as an [*UndoError] whose Left names every instance,
// router or switch left in an unexpected state; if traffic could not be
// moved back, or the old instances could not be restarted, the new
// instances are kept, since stopping them would leave requests with nowhere
// to go. An Undo can be run again, after fixing the
// cause, to finish the job, and running it after it succeeded does nothing.
//
// # Resume
//
// A deployment whose process died is taken over by another (see the deploy
// package's journal). The built-ins are [Resumer]s: StepsFor names the
// steps Deploy asks its Gate about, so that the step the dead process was
// in can be found by name, and Resume, given that step and the instances
// that ran before the deployment ([Position]), checks that the target's
// state fits the step, completes the step's changes, asks the Gate about it
// again from its start, and goes on. Its Undo reverts the whole deployment,
// the dead process's changes included. A target that fits no step (a third
// version, more new instances than the step runs, old ones stopped where
// the strategy never stops them) is refused with [ErrCannotResume] before
// anything changes, and the caller rolls back instead.
//
// # Writing your own
//
// Any type with a Deploy method is a Strategy. Keep a record of every
// instance started and stopped and every traffic change, and have the Undo
// revert exactly those: traffic back, then old instances restarted, then new
// ones stopped; see the custom strategy example. Implement [Describer] if
// going back is faster than a redeploy, [Validator] to have bad
// configuration refused before a deployment starts, and [Resumer] to have
// an interrupted deployment resumed rather than rolled back.
package strategy
