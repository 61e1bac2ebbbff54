// Package e2e holds end-to-end tests: the HTTP API in process, the worker as a real
// subprocess (killed and restarted mid-way), a real Temporal dev server and PostgreSQL.
package e2e
