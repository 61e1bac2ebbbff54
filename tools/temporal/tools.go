//go:build tools

// Package tools pins the Temporal CLI used by `make run` and the tests.
// It lives in its own module so the CLI's server dependencies never enter the main go.mod.
package tools

import _ "github.com/temporalio/cli/cmd/temporal"
