// Package flags stores the feature flags that a deployment turns on, turns
// off and cleans up.
//
// A [Store] holds named boolean [Flag] values and offers four operations:
// Get, Set, Delete and List. It is the only thing the deploy executor knows
// about flags, so any flag system (a file, a database, a SaaS flag service)
// can take part in a deployment by implementing it. The executor needs two
// things from a store:
//
//   - Rollback by kill switch. Turning a flag off is the fastest rollback
//     there is: no build, no rollout, the old code path is back as soon as
//     the application next reads the flag. [KillSwitch] does it, and treats
//     a flag that is not in the store as a failure, because a kill switch
//     that silently does nothing is worse than none.
//   - Clean-up on completion. Once a deployment has finished, its temporary
//     flags are removed with [Cleanup], which tries every flag and reports
//     all the ones it could not remove in a single error.
//
// The package has two stores. [Memory] keeps flags in memory; its zero value
// is ready to use, which suits tests and single-process tools. [File] keeps
// them in a human-readable JSON file that survives restarts and can be
// reviewed and edited by people; every write replaces the file atomically.
//
// Both stores accept only names that pass [Flag.Validate]. Package
// [github.com/safedeploy/safedeploy/flags/flagstest] checks that a Store
// implementation keeps the contract; run it against your own store.
package flags
