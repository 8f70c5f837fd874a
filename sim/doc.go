// Package sim replays recorded traffic on a virtual clock through a
// simulated service mesh (timeouts, retries with budgets, circuit breakers,
// fallbacks, capacity queues), with the same fault decisions as the deployed
// injector (inject.Decide), and scores how the mesh absorbs a bundle's
// faults; an adaptive loop and a learning agent tune the profiles.
//
// Run replays span files once; Replay runs the baseline and the faulted
// replay and writes a replay directory. docs/replay.md gives the semantics.
package sim
