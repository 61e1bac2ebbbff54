//go:build tools

// Package tools pins the Temporal server and its SQL schema tool (the production-shaped
// benchmark run, scripts/temporal-server.sh) at the version tools/temporal's CLI embeds:
// go.mod requires go.temporal.io/server and go.sum holds what cmd/server and cmd/tools/sql
// need (go get, never go mod tidy: nothing here imports them).
package tools
