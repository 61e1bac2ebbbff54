// Package workflows holds payorch's Temporal workflows. Everything here is deterministic:
// no time, randomness, map iteration or I/O outside the workflow APIs; all I/O goes
// through activities. `make lint` runs workflowcheck on this package, and every workflow
// has a replay test over recorded histories in testdata/.
package workflows
