package workflows

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
)

// TestActivityRefsMatchTheWorker: every typed activity reference (acts) names a method
// the worker registers (activities.Activities) with the very same signature, so a typed
// call can never reach the worker with other types.
func TestActivityRefsMatchTheWorker(t *testing.T) {
	refs := reflect.TypeOf((*acts)(nil))
	real := reflect.TypeOf((*activities.Activities)(nil))
	if refs.NumMethod() == 0 {
		t.Fatal("no activity references")
	}
	for i := 0; i < refs.NumMethod(); i++ {
		ref := refs.Method(i)
		m, ok := real.MethodByName(ref.Name)
		if !ok {
			t.Errorf("%s: the worker registers no such activity", ref.Name)
			continue
		}
		// Method types include the receiver: compare what follows it.
		if got, want := funcSig(m.Type), funcSig(ref.Type); got != want {
			t.Errorf("%s: the worker's signature is %s, the reference's %s", ref.Name, got, want)
		}
	}
}

func funcSig(f reflect.Type) string {
	var in, out []string
	for i := 1; i < f.NumIn(); i++ {
		in = append(in, f.In(i).String())
	}
	for i := 0; i < f.NumOut(); i++ {
		out = append(out, f.Out(i).String())
	}
	return "(" + strings.Join(in, ", ") + ") (" + strings.Join(out, ", ") + ")"
}

// TestReplayFailsOnAnUnversionedChange proves the replay test guards deploys: the
// recorded histories of the current shape, replayed against the workflow with one
// command added before the charge (a timer, as a change made without workflow.GetVersion
// would add), fail with a nondeterminism error.
func TestReplayFailsOnAnUnversionedChange(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", currentShape, "invoice_payment_success.json"))
	must(t, err)
	if len(files) == 0 {
		t.Fatalf("no recorded success history of shape %s", currentShape)
	}
	plain := newReplayer()
	if err := plain.ReplayWorkflowHistoryFromJSONFile(nil, files[0]); err != nil {
		t.Fatalf("the unchanged workflow must replay: %v", err)
	}
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		Interceptors: []interceptor.WorkerInterceptor{&addTimerBeforeCharge{}},
	})
	must(t, err)
	r.RegisterWorkflow(InvoicePayment)
	err = r.ReplayWorkflowHistoryFromJSONFile(nil, files[0])
	// TMPRL1100 is the SDK's nondeterminism error.
	if err == nil || !strings.Contains(err.Error(), "TMPRL1100") {
		t.Fatalf("replay with an unversioned change: %v, want a nondeterminism error", err)
	}
}

// addTimerBeforeCharge changes the workflow's commands the way an unversioned edit would:
// a timer before the ChargeAttempt activity.
type addTimerBeforeCharge struct {
	interceptor.WorkerInterceptorBase
}

func (i *addTimerBeforeCharge) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &timerInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type timerInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *timerInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&timerOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}})
}

type timerOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (o *timerOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if activityType == "ChargeAttempt" {
		_ = o.Next.NewTimer(ctx, time.Second).Get(ctx, nil)
	}
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}
