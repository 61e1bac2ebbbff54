// Package poll is the tests' one way to wait for what happens elsewhere (a workflow, a
// server coming up, a background loop, a row changing): a bounded poll that fails the test
// with what it waited for and the last state it saw. It starts nothing, so a pure package
// may use it and stay in `make test-fast` (which leaves out the tests that import
// internal/testenv).
package poll

import (
	"testing"
	"time"
)

const (
	firstInterval = 10 * time.Millisecond
	maxInterval   = 200 * time.Millisecond
)

// Until calls cond until it reports done, for at most timeout: at once, then at an
// interval growing from 10 ms to 200 ms. When timeout passes first, the test fails
// ("timed out after 30s waiting for <what>; last: <status>") with the status of cond's
// last call. cond runs on the test's goroutine, so it may itself call t.Fatal.
func Until(t testing.TB, timeout time.Duration, what string, cond func() (done bool, status string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := firstInterval
	for {
		done, status := cond()
		if done {
			return
		}
		if !time.Now().Before(deadline) {
			if status == "" {
				t.Fatalf("timed out after %s waiting for %s", timeout, what)
			}
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, status)
		}
		time.Sleep(min(interval, time.Until(deadline)))
		interval = min(2*interval, maxInterval)
	}
}
