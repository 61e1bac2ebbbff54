//go:build race

package e2e

// With -race, the worker subprocess is built with the race detector too.
func init() { workerBuildFlags = append(workerBuildFlags, "-race") }
