package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// loop runs f(0..n-1) from c goroutines (a closed loop: each goroutine starts its next item
// when the previous one ended) and returns the wall time and each item's latency. The
// first error stops the loop.
func loop(ctx context.Context, n, c int, f func(ctx context.Context, i int) error) (time.Duration, []time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	start := time.Now()
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := f(ctx, i); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("item %d: %w", i, err); cancel() })
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	return time.Since(start), lat, firstErr
}

// wfStats is what the Temporal server recorded for a set of workflows.
type wfStats struct {
	// Transitions is StateTransitionCount per workflow: min, max and mean over all.
	TransitionsMin, TransitionsMax int64
	TransitionsMean                float64
	// From the histories of a sample: events, activities and local activities per workflow
	// (the first workflow of the sample), and whether the sample agrees.
	Events, Activities, LocalActivities, Timers int
	Sampled                                     int
}

// describe reads StateTransitionCount of every workflow (DescribeWorkflowExecution) and
// counts the activities, local activities (markers) and timers in the histories of the
// first sample ones.
func describe(ctx context.Context, c client.Client, ids []string, sample int) (wfStats, error) {
	var s wfStats
	var sum int64
	for i, id := range ids {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return s, fmt.Errorf("describe %s: %w", id, err)
		}
		n := d.GetWorkflowExecutionInfo().GetStateTransitionCount()
		if i == 0 || n < s.TransitionsMin {
			s.TransitionsMin = n
		}
		if n > s.TransitionsMax {
			s.TransitionsMax = n
		}
		sum += n
	}
	if len(ids) > 0 {
		s.TransitionsMean = round(float64(sum)/float64(len(ids)), 2)
	}
	for i, id := range ids {
		if i >= sample {
			break
		}
		var ev, act, local, timers int
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return s, fmt.Errorf("history %s: %w", id, err)
			}
			ev++
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				act++
			case enumspb.EVENT_TYPE_MARKER_RECORDED:
				if e.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
					local++
				}
			case enumspb.EVENT_TYPE_TIMER_STARTED:
				timers++
			}
		}
		if i == 0 {
			s.Events, s.Activities, s.LocalActivities, s.Timers = ev, act, local, timers
		}
		s.Sampled++
	}
	return s, nil
}

func (s wfStats) json() map[string]any {
	return map[string]any{
		"state_transitions_mean": s.TransitionsMean, "state_transitions_min": s.TransitionsMin,
		"state_transitions_max": s.TransitionsMax, "history_events": s.Events,
		"activities": s.Activities, "local_activities": s.LocalActivities, "timers": s.Timers,
	}
}
