package poll

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records the message and ends the goroutine, as
// the real one does.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls Until on its own goroutine (Fatalf ends it) and reports whether Until
// returned and what it failed with.
func run(timeout time.Duration, cond func() (bool, string)) (returned bool, msg string) {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Until(r, timeout, "the thing", cond)
		returned = true
	}()
	<-done
	return returned, r.msg
}

func TestUntilReturnsOnceDone(t *testing.T) {
	calls := 0
	returned, msg := run(10*time.Second, func() (bool, string) {
		calls++
		return calls == 3, fmt.Sprint("call ", calls)
	})
	if !returned || msg != "" || calls != 3 {
		t.Fatalf("returned %v, failed with %q after %d calls; want a return on the third call", returned, msg, calls)
	}
}

func TestUntilFailsWithTheLastStatus(t *testing.T) {
	calls := 0
	start := time.Now()
	returned, msg := run(300*time.Millisecond, func() (bool, string) {
		calls++
		return false, fmt.Sprint("call ", calls)
	})
	if returned {
		t.Fatal("Until returned although the condition never held")
	}
	want := fmt.Sprintf("timed out after 300ms waiting for the thing; last: call %d", calls)
	if msg != want {
		t.Fatalf("failed with %q, want %q", msg, want)
	}
	if calls < 3 {
		t.Fatalf("%d calls in 300 ms: the condition was not polled", calls)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before the 300ms timeout", waited)
	}
}

func TestUntilWithoutStatus(t *testing.T) {
	_, msg := run(0, func() (bool, string) { return false, "" })
	if !strings.HasSuffix(msg, "waiting for the thing") {
		t.Fatalf("failed with %q", msg)
	}
}
