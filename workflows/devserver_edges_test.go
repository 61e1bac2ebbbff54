package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"payorch/activities"
	"payorch/collection"
	c "payorch/contracts"
	"payorch/customers"
	"payorch/ids"
	"payorch/internal/testenv/poll"
	"payorch/invoices"
	"payorch/payments"
	"payorch/subscriptions"
)

// devServer runs InvoicePayment on the real Temporal dev server with the real activities
// on its own task queue and database, with a short retry schedule.
type devServer struct {
	t     *testing.T
	pool  *pgxpool.Pool
	queue string
	sched []time.Duration
}

func newDevServer(t *testing.T) *devServer {
	t.Helper()
	pool, _ := env.Postgres.NewPool(t)
	d := &devServer{t: t, pool: pool, queue: "test-edges-" + ids.New("q"), sched: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}}
	w := worker.New(env.Temporal, d.queue, worker.Options{})
	w.RegisterWorkflow(InvoicePayment)
	w.RegisterActivity(&activities.Activities{Pool: pool, Provider: payments.NewSimulated(pool, payments.SimulatedOptions{})})
	must(t, w.Start())
	t.Cleanup(w.Stop)
	return d
}

func (d *devServer) customer(pm string) customers.Customer {
	cs := customers.NewService(d.pool)
	cust, err := cs.Create(context.Background(), customers.CreateInput{Name: "Edge", Email: "edge@example.com", Currency: "EUR"})
	must(d.t, err)
	if pm != "" {
		d.addCard(cust.ID, pm)
	}
	return cust
}

func (d *devServer) addCard(customerID, pm string) {
	_, err := customers.NewService(d.pool).AddPaymentMethod(context.Background(), customerID, customers.PaymentMethodInput{Type: "card", ProviderID: &pm,
		Default: ptr(true), ExpMonth: ptr(int32(12)), ExpYear: ptr(int32(time.Now().Year() + 2)), Last4: ptr("4242")})
	must(d.t, err)
}

func (d *devServer) invoice(customerID, method string, sub *string) invoices.Invoice {
	in := invoices.CreateInput{CustomerID: customerID, SubscriptionID: sub, Lines: []invoices.LineInput{{Description: "Plan", Amount: "42.00"}}}
	if method != "" {
		in.PaymentMethod = &method
	}
	inv, err := invoices.NewService(d.pool).Create(context.Background(), in)
	must(d.t, err)
	return inv
}

func (d *devServer) collection() *collection.Client {
	return &collection.Client{Temporal: env.Temporal, TaskQueue: d.queue, RetrySchedule: d.sched, Invoices: invoices.NewService(d.pool)}
}

func (d *devServer) start(inv invoices.Invoice) client.WorkflowRun {
	must(d.t, d.collection().StartInvoice(context.Background(), inv))
	return env.Temporal.GetWorkflow(context.Background(), c.InvoicePaymentWorkflowID(inv.ID), "")
}

func (d *devServer) update(inv invoices.Invoice, name string, arg any) (c.UpdateOutcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := env.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: c.InvoicePaymentWorkflowID(inv.ID),
		UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
	var out c.UpdateOutcome
	if err == nil {
		err = h.Get(ctx, &out)
	}
	return out, err
}

func (d *devServer) state(inv invoices.Invoice) c.PaymentState {
	v, err := env.Temporal.QueryWorkflow(context.Background(), c.InvoicePaymentWorkflowID(inv.ID), "", c.QueryState)
	must(d.t, err)
	var st c.PaymentState
	must(d.t, v.Get(&st))
	return st
}

// waitFor polls the workflow's state until ok (a bounded wait for liveness).
func (d *devServer) waitFor(inv invoices.Invoice, what string, ok func(c.PaymentState) bool) c.PaymentState {
	d.t.Helper()
	return waitState(d.t, inv.ID, what, ok)
}

// waitState polls an invoice's payment workflow state until ok, for at most a minute.
func waitState(t testing.TB, invoiceID, what string, ok func(c.PaymentState) bool) c.PaymentState {
	t.Helper()
	var st c.PaymentState
	poll.Until(t, 60*time.Second, invoiceID+": "+what, func() (bool, string) {
		v, err := env.Temporal.QueryWorkflow(context.Background(), c.InvoicePaymentWorkflowID(invoiceID), "", c.QueryState)
		if err != nil {
			return false, err.Error()
		}
		if err := v.Get(&st); err != nil {
			return false, err.Error()
		}
		return ok(st), st.PaymentStatus + " (" + st.WaitingFor + ")"
	})
	return st
}

func appErrType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

// Issue 10 item 3: a reconcile Update whose database step fails for good (a NUL byte in
// the reference, sent straight through the Temporal client past the API's guard) answers
// the caller at once with a typed error, and the workflow stays healthy: a later
// reconcile, or a void with its reason, works on the same invoice.
func TestPoisonReconcileAnswersTypedErrorOnDevServer(t *testing.T) {
	d := newDevServer(t)
	cust := d.customer("")
	for _, then := range []string{c.UpdateReconcile, c.UpdateVoid} {
		t.Run("then_"+then, func(t *testing.T) {
			inv := d.invoice(cust.ID, "bank_transfer", nil)
			run := d.start(inv)
			d.waitFor(inv, "awaiting_transfer", func(s c.PaymentState) bool { return s.PaymentStatus == c.PaymentAwaitingTransfer })
			began := time.Now()
			_, err := d.update(inv, c.UpdateReconcile, c.ReconcileRequest{Amount: "10.00", Reference: "TRX\u0000NUL", PaidAt: time.Now().UTC()})
			if err == nil || appErrType(err) != c.ErrInvalidData {
				t.Fatalf("poison reconcile: %v (type %q), want %s", err, appErrType(err), c.ErrInvalidData)
			}
			if waited := time.Since(began); waited > 30*time.Second {
				t.Errorf("the caller waited %s: the step was retried", waited)
			}
			f := &fixture{t: t, pool: d.pool, inv: inv}
			f.expect("nothing recorded", len(f.invoice().Transactions), 0)
			f.expect("status after the poison", d.state(inv).PaymentStatus, c.PaymentAwaitingTransfer)
			var want string
			switch then {
			case c.UpdateReconcile:
				out, err := d.update(inv, c.UpdateReconcile, c.ReconcileRequest{Amount: "42.00", Reference: "TRX-OK", PaidAt: time.Now().UTC()})
				must(t, err)
				f.expect("reconcile outcome", out.InvoiceStatus, "paid")
				want = c.PaymentPaid
			case c.UpdateVoid:
				out, err := d.update(inv, c.UpdateVoid, c.VoidRequest{Reason: "duplicate of INV-7"})
				must(t, err)
				f.expect("void outcome", out.InvoiceStatus, "voided")
				if vr := f.invoice().VoidReason; vr == nil || *vr != "duplicate of INV-7" {
					t.Errorf("void reason %v", vr)
				}
				want = c.PaymentVoided
			}
			var res c.InvoicePaymentResult
			must(t, run.Get(context.Background(), &res))
			f.expect("result", res.Status, want)
		})
	}
}

// Issue 10 item 3, main loop, as an operator sees it on the server: a step that fails for
// good parks the workflow in awaiting_action, visible in the PaymentStatus search
// attribute, the query and the Web UI's current details, with the reason.
func TestParkedStepVisibleOnDevServer(t *testing.T) {
	d := newDevServer(t)
	ctx := context.Background()
	_, err := d.pool.Exec(ctx, `ALTER TABLE invoices ADD CONSTRAINT test_refuse_attempts CHECK (attempt_count < 1) NOT VALID`)
	must(t, err)
	inv := d.invoice(d.customer("pm_card_visa").ID, "", nil)
	run := d.start(inv)
	st := d.waitFor(inv, "parked", func(s c.PaymentState) bool { return s.Hold == c.HoldStepFailed })
	f := &fixture{t: t, pool: d.pool, inv: inv}
	f.expect("status", st.PaymentStatus, c.PaymentAwaitingAction)
	desc, err := env.Temporal.DescribeWorkflowExecution(ctx, run.GetID(), "")
	must(t, err)
	var status string
	if p := desc.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields()["PaymentStatus"]; p != nil {
		must(t, converter.GetDefaultDataConverter().FromPayload(p, &status))
	}
	f.expect("PaymentStatus search attribute", status, c.PaymentAwaitingAction)
	v, err := env.Temporal.QueryWorkflow(ctx, run.GetID(), "", "__temporal_workflow_metadata")
	must(t, err)
	var meta sdkpb.WorkflowMetadata
	must(t, v.Get(&meta))
	details := meta.GetCurrentDetails()
	if !strings.Contains(details, c.HoldStepFailed) || !strings.Contains(details, "23514") || !strings.Contains(details, "operator") {
		t.Errorf("current details do not say why: %q", details)
	}
	_, err = d.pool.Exec(ctx, `ALTER TABLE invoices DROP CONSTRAINT test_refuse_attempts`)
	must(t, err)
	out, err := d.update(inv, c.UpdateRetry, c.RetryRequest{RequestedBy: "operator"})
	must(t, err)
	f.expect("operator's retry", out.InvoiceStatus, "paid")
}

// Issue 10 item 5 end to end: an invoice started while its subscription is errored is
// not charged; the subscription's reactivation (subscriptions.Reactivate, then
// collection.Client.SubscriptionReactivated) charges it at once.
func TestErroredSubscriptionNotCollectedUntilReactivatedOnDevServer(t *testing.T) {
	d := newDevServer(t)
	ctx := context.Background()
	cust := d.customer("pm_card_chargeDeclinedInsufficientFunds")
	now := time.Now().UTC()
	sub, err := subscriptions.NewService(d.pool).Create(ctx, subscriptions.CreateInput{CustomerID: cust.ID, Amount: "42.00",
		CurrentPeriodStart: now.Add(-time.Hour).Format(time.RFC3339), CurrentPeriodEnd: now.Add(30 * 24 * time.Hour).Format(time.RFC3339)})
	must(t, err)
	// Two open invoices of the subscription; the second's collection starts (e.g. by the
	// sweeper) after the first has errored the subscription.
	first := d.invoice(cust.ID, "", &sub.ID)
	second := d.invoice(cust.ID, "", &sub.ID)
	d.start(first)
	d.waitFor(first, "errored", func(s c.PaymentState) bool { return s.PaymentStatus == c.PaymentErrored })
	d.start(second)
	held := d.waitFor(second, "held", func(s c.PaymentState) bool { return s.Hold == c.HoldSubscriptionErrored })
	f := &fixture{t: t, pool: d.pool, inv: second}
	f.expect("held status", held.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("charges of the held invoice", len(f.invoice().Transactions), 0)
	d.addCard(cust.ID, "pm_card_visa")
	_, err = subscriptions.NewService(d.pool).Reactivate(ctx, sub.ID)
	must(t, err)
	n, err := d.collection().SubscriptionReactivated(ctx, sub.ID)
	must(t, err)
	f.expect("signalled", n, 2)
	d.waitFor(second, "paid", func(s c.PaymentState) bool { return s.PaymentStatus == c.PaymentPaid })
	f.expect("second invoice", f.invoice().Status, "paid")
	f.expect("the errored invoice still waits", d.state(first).PaymentStatus, c.PaymentErrored)
}

// Issue 10 item 5: a payment that puts the errored subscription back in service (the
// errored invoice paid by a manual retry inside the period) resumes its other open
// invoice too, without any call from outside.
func TestPaymentThatReactivatesSubscriptionResumesItsInvoicesOnDevServer(t *testing.T) {
	d := newDevServer(t)
	ctx := context.Background()
	cust := d.customer("pm_card_chargeDeclinedInsufficientFunds")
	now := time.Now().UTC()
	sub, err := subscriptions.NewService(d.pool).Create(ctx, subscriptions.CreateInput{CustomerID: cust.ID, Amount: "42.00",
		CurrentPeriodStart: now.Add(-time.Hour).Format(time.RFC3339), CurrentPeriodEnd: now.Add(30 * 24 * time.Hour).Format(time.RFC3339)})
	must(t, err)
	first := d.invoice(cust.ID, "", &sub.ID)
	second := d.invoice(cust.ID, "", &sub.ID)
	d.start(first)
	d.waitFor(first, "errored", func(s c.PaymentState) bool { return s.PaymentStatus == c.PaymentErrored })
	d.start(second)
	d.waitFor(second, "held", func(s c.PaymentState) bool { return s.Hold == c.HoldSubscriptionErrored })
	d.addCard(cust.ID, "pm_card_visa")
	out, err := d.update(first, c.UpdateRetry, c.RetryRequest{RequestedBy: "support"})
	must(t, err)
	f := &fixture{t: t, pool: d.pool, inv: second}
	f.expect("first invoice", out.InvoiceStatus, "paid")
	d.waitFor(second, "paid", func(s c.PaymentState) bool { return s.PaymentStatus == c.PaymentPaid })
	f.expect("second invoice", f.invoice().Status, "paid")
	f.expect("subscription", mustSubscriptionStatus(t, d.pool, sub.ID), "active")
}

func mustSubscriptionStatus(t *testing.T, pool *pgxpool.Pool, id string) string {
	var s string
	must(t, pool.QueryRow(context.Background(), `SELECT status FROM subscriptions WHERE id = $1`, id).Scan(&s))
	return s
}
