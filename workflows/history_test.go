package workflows

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"payorch/activities"
	c "payorch/contracts"
	"payorch/customers"
	"payorch/ids"
	"payorch/invoices"
	"payorch/payments"
)

// Histories recorded from the real dev server are kept in testdata/<shape>/, one folder
// per released shape of the workflows, and replayed by TestReplayRecordedHistories, so a
// change that breaks determinism fails CI. Folders are only ever added, never
// overwritten: open executions of every released shape must still replay. After a
// deliberate change behind workflow.GetVersion, bump currentShape and record the new
// shape's histories into its new folder with:
//
//	PAYORCH_RECORD_HISTORIES=1 go test ./workflows -run 'TestHistoriesOnDevServer|TestWalletLoadHistories'
const recordEnv = "PAYORCH_RECORD_HISTORIES"

// currentShape names the testdata folder of the histories the current code records.
// v1: the first release; v2: the change "exactly-once-at-the-edges"; v3: "lean-attempt";
// v4: "dunning-policy".
const currentShape = "v4"

// recordHistory writes a recorded history into the current shape's folder, refusing to
// overwrite a released one.
func recordHistory(t *testing.T, name string, hist *historypb.History) {
	t.Helper()
	raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	must(t, err)
	dir := filepath.Join("testdata", currentShape)
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, name+".json"), raw, 0o644))
}

func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	must(t, err)
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/ (record them with " + recordEnv + "=1)")
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			r := newReplayer()
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay of %s: %v", f, err)
			}
		})
	}
}

func newReplayer() worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflow(InvoicePayment)
	registerOtherWorkflowsForReplay(r)
	return r
}

// TestHistoriesOnDevServer runs the main paths on the real dev server with real
// activities, replays each resulting history against the current code, and records it
// when PAYORCH_RECORD_HISTORIES=1.
func TestHistoriesOnDevServer(t *testing.T) {
	pool, _ := env.Postgres.NewPool(t)
	queue := "test-history-" + ids.New("q")
	sim := payments.NewSimulated(pool, payments.SimulatedOptions{})
	w := worker.New(env.Temporal, queue, worker.Options{})
	w.RegisterWorkflow(InvoicePayment)
	w.RegisterActivity(&activities.Activities{Pool: pool, Provider: sim})
	must(t, w.Start())
	defer w.Stop()
	ctx := context.Background()
	sched := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}

	newInvoice := func(pm, method string) invoices.Invoice {
		cs := customers.NewService(pool)
		cust, err := cs.Create(ctx, customers.CreateInput{Name: "Replay", Email: "replay@example.com", Currency: "EUR"})
		must(t, err)
		if pm != "" {
			_, err = cs.AddPaymentMethod(ctx, cust.ID, customers.PaymentMethodInput{Type: "card", ProviderID: &pm,
				ExpMonth: ptr(int32(12)), ExpYear: ptr(int32(time.Now().Year() + 2)), Last4: ptr("4242")})
			must(t, err)
		}
		in := invoices.CreateInput{CustomerID: cust.ID, Lines: []invoices.LineInput{{Description: "Plan", Amount: "42.00"}}}
		if method != "" {
			in.PaymentMethod = &method
		}
		inv, err := invoices.NewService(pool).Create(ctx, in)
		must(t, err)
		return inv
	}
	startWithLimit := func(inv invoices.Invoice, historyLimit int) client.WorkflowRun {
		run, err := env.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: c.InvoicePaymentWorkflowID(inv.ID), TaskQueue: queue,
			WorkflowExecutionTimeout: 2 * time.Minute,
		}, InvoicePayment, c.InvoicePaymentInput{InvoiceID: inv.ID, CustomerID: inv.CustomerID, Method: inv.PaymentMethod,
			RetrySchedule: sched, HistoryLimit: historyLimit})
		must(t, err)
		return run
	}
	startWF := func(inv invoices.Invoice) client.WorkflowRun { return startWithLimit(inv, 0) }
	update := func(inv invoices.Invoice, name string, arg any) c.UpdateOutcome {
		h, err := env.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: c.InvoicePaymentWorkflowID(inv.ID),
			UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
		must(t, err)
		var out c.UpdateOutcome
		must(t, h.Get(ctx, &out))
		return out
	}
	waitStatus := func(inv invoices.Invoice, want string) {
		waitState(t, inv.ID, "status "+want, func(st c.PaymentState) bool { return st.PaymentStatus == want })
	}

	scenarios := []struct {
		name string
		run  func() (client.WorkflowRun, string)
	}{
		{"success", func() (client.WorkflowRun, string) {
			inv := newInvoice("pm_card_visa", "")
			return startWF(inv), c.PaymentPaid
		}},
		{"errored_then_manual_retry", func() (client.WorkflowRun, string) {
			inv := newInvoice("pm_sim_fail4_then_settle", "")
			run := startWF(inv)
			waitStatus(inv, c.PaymentErrored)
			if out := update(inv, c.UpdateRetry, c.RetryRequest{RequestedBy: "test"}); out.InvoiceStatus != "paid" {
				t.Errorf("manual retry outcome %+v", out)
			}
			return run, c.PaymentPaid
		}},
		{"bank_transfer_reconciled", func() (client.WorkflowRun, string) {
			inv := newInvoice("", "bank_transfer")
			run := startWF(inv)
			waitStatus(inv, c.PaymentAwaitingTransfer)
			update(inv, c.UpdateReconcile, c.ReconcileRequest{Amount: "12.00", Reference: "T1", PaidAt: time.Now().UTC()})
			update(inv, c.UpdateReconcile, c.ReconcileRequest{Amount: "30.00", Reference: "T2", PaidAt: time.Now().UTC()})
			return run, c.PaymentPaid
		}},
		{"continued_as_new_then_manual_retry", func() (client.WorkflowRun, string) {
			// A long history (here: a lowered limit) continues the workflow as new with its
			// state; the later run still errors on schedule and takes the manual retry.
			inv := newInvoice("pm_sim_fail4_then_settle", "")
			run := startWithLimit(inv, 20)
			waitStatus(inv, c.PaymentErrored)
			first, err := env.Temporal.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
			must(t, err)
			if s := first.WorkflowExecutionInfo.Status; s != enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
				t.Errorf("first run is %s, want continued as new", s)
			}
			out := update(inv, c.UpdateRetry, c.RetryRequest{RequestedBy: "test"})
			if out.InvoiceStatus != "paid" || out.Transaction == nil || out.Transaction.Attempt != 5 {
				t.Errorf("manual retry outcome after continue-as-new %+v", out)
			}
			return run, c.PaymentPaid
		}},
		{"no_card_then_new_card", func() (client.WorkflowRun, string) {
			inv := newInvoice("", "")
			run := startWF(inv)
			waitStatus(inv, c.PaymentAwaitingAction)
			pm := "pm_card_visa"
			saved, err := customers.NewService(pool).AddPaymentMethod(ctx, inv.CustomerID, customers.PaymentMethodInput{Type: "card", ProviderID: &pm,
				ExpMonth: ptr(int32(12)), ExpYear: ptr(int32(time.Now().Year() + 2)), Last4: ptr("4242")})
			must(t, err)
			must(t, env.Temporal.SignalWorkflow(ctx, run.GetID(), "", c.SignalPaymentMethodUpdated, c.PaymentMethodUpdated{PaymentMethodID: saved.ID}))
			return run, c.PaymentPaid
		}},
		{"provider_failure_then_operator_retry", func() (client.WorkflowRun, string) {
			inv := newInvoice("pm_sim_bad_credentials", "")
			run := startWF(inv)
			waitStatus(inv, c.PaymentAwaitingAction)
			pm := "pm_card_visa"
			_, err := customers.NewService(pool).AddPaymentMethod(ctx, inv.CustomerID, customers.PaymentMethodInput{Type: "card", ProviderID: &pm,
				Default: ptr(true), ExpMonth: ptr(int32(12)), ExpYear: ptr(int32(time.Now().Year() + 2)), Last4: ptr("4242")})
			must(t, err)
			if out := update(inv, c.UpdateRetry, c.RetryRequest{RequestedBy: "operator"}); out.InvoiceStatus != "paid" {
				t.Errorf("operator's retry outcome %+v", out)
			}
			return run, c.PaymentPaid
		}},
		{"dunning_policy_then_manual_retry", func() (client.WorkflowRun, string) {
			// processing_error has its own schedule in the policy fixed at start (1 s, then
			// 1 h) under a default of three hours (the deadline): the first failure is retried
			// after a second, not an hour, the second waits an hour, and the Web UI says which
			// rule applied.
			inv := newInvoice("pm_sim_fail2_then_settle", "")
			run, err := env.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: c.InvoicePaymentWorkflowID(inv.ID), TaskQueue: queue, WorkflowExecutionTimeout: 2 * time.Minute,
			}, InvoicePayment, c.InvoicePaymentInput{InvoiceID: inv.ID, CustomerID: inv.CustomerID, Method: inv.PaymentMethod,
				RetrySchedule: []time.Duration{time.Hour, time.Hour, time.Hour}, RetryByErrorType: map[string][]time.Duration{"processing_error": {time.Second, time.Hour}}})
			must(t, err)
			st := waitState(t, inv.ID, "two failures, a retry in an hour", func(st c.PaymentState) bool {
				return st.PaymentStatus == c.PaymentRetryScheduled && st.FailedAttempts == 2
			})
			// Attempts allowed: the longer of processing_error's (2 retries) and the default's (3).
			if st.DunningRule != "processing_error" || st.MaxAttempts != 4 {
				t.Errorf("state after two failures %+v", st)
			}
			v, err := env.Temporal.QueryWorkflow(ctx, run.GetID(), "", "__temporal_workflow_metadata")
			must(t, err)
			var meta sdkpb.WorkflowMetadata
			must(t, v.Get(&meta))
			if d := meta.GetCurrentDetails(); !strings.Contains(d, "dunning: processing_error (1s, 1h)") {
				t.Errorf("current details do not name the rule: %q", d)
			}
			var summaries []string
			for _, ev := range fetchHistory(t, run.GetID(), "").GetEvents() {
				if ev.GetEventType() == enumspb.EVENT_TYPE_TIMER_STARTED && ev.GetUserMetadata().GetSummary() != nil {
					var s string
					must(t, converter.GetDefaultDataConverter().FromPayload(ev.GetUserMetadata().GetSummary(), &s))
					summaries = append(summaries, s)
				}
			}
			if !slices.Contains(summaries, "retry 1 of 3 in 1s (dunning: processing_error)") || !slices.Contains(summaries, "retry 2 of 3 in 1h (dunning: processing_error)") {
				t.Errorf("the retry timers' summaries %q do not say which rule applied", summaries)
			}
			if out := update(inv, c.UpdateRetry, c.RetryRequest{RequestedBy: "test"}); out.InvoiceStatus != "paid" {
				t.Errorf("manual retry outcome %+v", out)
			}
			return run, c.PaymentPaid
		}},
		{"hard_decline_then_void", func() (client.WorkflowRun, string) {
			inv := newInvoice("pm_card_chargeDeclinedExpiredCard", "")
			run := startWF(inv)
			waitStatus(inv, c.PaymentAwaitingAction)
			update(inv, c.UpdateVoid, c.VoidRequest{Reason: "test"})
			return run, c.PaymentVoided
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			run, want := sc.run()
			firstRun := run.GetRunID() // Get follows continue-as-new and moves GetRunID on
			var res c.InvoicePaymentResult
			must(t, run.Get(ctx, &res))
			if res.Status != want {
				t.Fatalf("result %+v, want %s", res, want)
			}
			// Every run of the execution: a continued-as-new payment has two or more.
			runs := []string{firstRun}
			last, err := env.Temporal.DescribeWorkflowExecution(ctx, run.GetID(), "")
			must(t, err)
			t.Logf("%s: %d state transitions in the last run", sc.name, last.WorkflowExecutionInfo.StateTransitionCount)
			if id := last.WorkflowExecutionInfo.Execution.RunId; id != firstRun {
				runs = append(runs, id)
			}
			for i, runID := range runs {
				hist := fetchHistory(t, run.GetID(), runID)
				r := newReplayer()
				if err := r.ReplayWorkflowHistory(nil, hist); err != nil {
					t.Fatalf("replay of run %d against the current code: %v", i+1, err)
				}
				if os.Getenv(recordEnv) == "1" {
					name := "invoice_payment_" + sc.name
					if i > 0 {
						name += fmt.Sprintf("_run%d", i+1)
					}
					recordHistory(t, name, hist)
				}
			}
		})
	}
}

func fetchHistory(t *testing.T, id, runID string) *historypb.History {
	t.Helper()
	it := env.Temporal.GetWorkflowHistory(context.Background(), id, runID, false, 0)
	hist := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		must(t, err)
		hist.Events = append(hist.Events, ev)
	}
	return hist
}
