package workflows

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	c "payorch/contracts"
	"payorch/invoices"
	"payorch/subscriptions"
)

// Issue 10, "Retry 19 of 4": revoked credentials (a non-retryable provider error) make
// one failed transaction, then the workflow waits in awaiting_action for an operator —
// no blind retries, no new failure every retry. The operator's retry charges again.
func TestBadCredentialsWaitsForOperator(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_bad_credentials", subscription: true})
	var waiting c.PaymentState
	var retry *updateResult
	f.at(100*time.Hour, func() {
		waiting = f.state()
		// The operator fixes the account (here: the customer's card works again) and retries.
		f.addPaymentMethod("card", "pm_card_visa")
		retry = f.update(c.UpdateRetry, c.RetryRequest{RequestedBy: "operator"})
	})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("waiting status", waiting.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("hold", waiting.Hold, c.HoldProviderFailure)
	if !strings.Contains(waiting.WaitingFor, "operator") || !strings.Contains(waiting.HoldReason, "api_key_expired") {
		t.Errorf("the reason does not say what to do and why: %q / %q", waiting.WaitingFor, waiting.HoldReason)
	}
	f.expect("charges sent while waiting", waiting.ChargeNumber, 1)
	f.expect("no retry timers", f.retryTimers(), []time.Duration(nil))
	f.expect("subscription untouched", f.subscriptionStatus(), "active")
	if retry == nil || retry.err != nil || retry.rejected != nil {
		t.Fatalf("operator's retry: %+v", retry)
	}
	f.expect("retry outcome", retry.outcome.InvoiceStatus, "paid")
	f.expect("transactions", f.txnSummary(), []string{"card:failed:provider_error", "card:settled"})
	f.expect("failure webhooks", countOf(f.events(), "invoice.transaction_failed"), 1)
}

// A provider outage that outlives the charge activity's retry window counts against a
// bounded budget: the invoice ends within the schedule's deadline, waiting for an
// operator, instead of retrying for ever.
func TestProviderOutageEndsWithinDeadline(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_outage9999_then_settle"})
	var atDeadline c.PaymentState
	f.at(38*time.Hour, func() { atDeadline = f.state() })
	f.endAt(200 * time.Hour)
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	f.expect("status at the deadline", atDeadline.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("hold at the deadline", atDeadline.Hold, c.HoldProviderFailure)
	t.Logf("reason: %s", atDeadline.HoldReason)
	inv := f.invoice()
	if len(inv.Transactions) == 0 || len(inv.Transactions) > len(schedule)+1 {
		t.Fatalf("%d transactions, want 1..%d", len(inv.Transactions), len(schedule)+1)
	}
	for _, tx := range inv.Transactions {
		if tx.ErrorType == nil || *tx.ErrorType != "provider_error" {
			t.Errorf("transaction %s: %v, want provider_error", tx.ID, tx.ErrorType)
		}
	}
	f.expect("failed attempts (the customer's)", atDeadline.FailedAttempts, 0)
	f.expect("provider outages", atDeadline.ProviderOutages, len(inv.Transactions))
	f.expect("final status", f.state().PaymentStatus, c.PaymentAwaitingAction)
	f.expect("invoice", inv.Status, "to_pay")
}

// Issue 10 item 3, main loop: a step that fails for good (here the database refuses the
// data: a CHECK constraint violation, SQLSTATE 23514) parks the workflow in
// awaiting_action with the reason; it neither dies nor retries for ever. The operator's
// retry runs it again once the cause is fixed.
func TestNonRetryableStepParksForOperator(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_visa"})
	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `ALTER TABLE invoices ADD CONSTRAINT test_refuse_attempts CHECK (attempt_count < 1) NOT VALID`)
	must(t, err)
	var parked c.PaymentState
	var prepares int
	var retry *updateResult
	f.at(10*time.Hour, func() {
		parked = f.state()
		prepares = f.starts("StartAttempt")
		_, err := f.pool.Exec(ctx, `ALTER TABLE invoices DROP CONSTRAINT test_refuse_attempts`)
		must(t, err)
		retry = f.update(c.UpdateRetry, c.RetryRequest{RequestedBy: "operator"})
	})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("parked status", parked.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("parked hold", parked.Hold, c.HoldStepFailed)
	if !strings.Contains(parked.HoldReason, c.ErrInvalidData) || !strings.Contains(parked.HoldReason, "23514") {
		t.Errorf("reason %q does not say why", parked.HoldReason)
	}
	f.expect("prepare attempts (no retry of what cannot heal)", prepares, 1)
	if retry == nil || retry.err != nil || retry.rejected != nil {
		t.Fatalf("operator's retry: %+v", retry)
	}
	f.expect("after the retry", f.invoice().Status, "paid")
	f.expect("transactions", f.txnSummary(), []string{"card:settled"})
}

// Issue 10 item 5: when a subscription becomes errored (another of its invoices used up
// its attempts), its other open invoice stops being charged — its next retry does not
// happen, it waits with the reason — and the subscription's reactivation resumes it.
func TestErroredSubscriptionHoldsItsOtherInvoice(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_fail1_then_settle", subscription: true})
	ctx := context.Background()
	// The subscription's other open invoice, the one that will error it.
	is := invoices.NewService(f.pool)
	other, err := is.Create(ctx, invoices.CreateInput{CustomerID: f.cust.ID, SubscriptionID: &f.sub,
		Lines: []invoices.LineInput{{Description: "Last month", Amount: "30.00"}}})
	must(t, err)
	var held c.PaymentState
	var chargesWhileHeld int
	f.at(time.Hour, func() {
		closing, err := is.MarkErrored(ctx, other.ID)
		must(t, err)
		f.expect("subscription errored by the other invoice", closing.SubscriptionStatus, "errored")
	})
	f.at(4*time.Hour, func() {
		held = f.state()
		chargesWhileHeld = f.simCharges()
		_, err := subscriptions.NewService(f.pool).Reactivate(ctx, f.sub)
		must(t, err)
		f.tenv.SignalWorkflow(c.SignalSubscriptionReactivated, c.SubscriptionReactivated{SubscriptionID: f.sub})
	})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("held status", held.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("held hold", held.Hold, c.HoldSubscriptionErrored)
	if !strings.Contains(held.WaitingFor, f.sub) || !strings.Contains(held.WaitingFor, "reactivated") {
		t.Errorf("waiting for %q does not say why", held.WaitingFor)
	}
	f.expect("charges while held (the 2 h retry did not charge)", chargesWhileHeld, 1)
	f.expect("transactions", f.txnSummary(), []string{"card:failed:processing_error", "card:settled"})
	f.expect("invoice", f.invoice().Status, "paid")
	// The subscription is active: its other open invoice (the errored one) is told.
	f.expect("signalled", f.signalled, []string{c.SignalSubscriptionReactivated + " " + c.InvoicePaymentWorkflowID(other.ID)})
}

// Issue 10 item 6: payment_method "direct_debit" charges the customer's direct-debit
// mandate, not their default card.
func TestDirectDebitInvoiceChargesTheMandate(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_visa", method: "direct_debit"})
	mandate := f.addPaymentMethod("direct_debit", "pm_sim_sepa_settle")
	// The card stays the default: make it so again (adding the mandate made it default).
	_, err := f.pool.Exec(context.Background(), `UPDATE payment_methods SET is_default = false WHERE customer_id = $1`, f.cust.ID)
	must(t, err)
	_, err = f.pool.Exec(context.Background(), `UPDATE payment_methods SET is_default = true WHERE customer_id = $1 AND type = 'card'`, f.cust.ID)
	must(t, err)
	f.at(time.Hour, func() { f.deliverSEPA("settled", "evt_dd") })
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	inv := f.invoice()
	f.expect("invoice method", inv.PaymentMethod, "direct_debit")
	f.expect("transactions", f.txnSummary(), []string{"direct_debit:settled"})
	if pm := inv.Transactions[0].PaymentMethodID; pm == nil || *pm != mandate {
		t.Errorf("charged payment method %v, want the mandate %s", pm, mandate)
	}
	var charged string
	must(t, f.pool.QueryRow(context.Background(), `SELECT payment_method_ref FROM sim_charges`).Scan(&charged))
	f.expect("provider charged", charged, "pm_sim_sepa_settle")
}

// Issue 10 item 6: an invoice created while the customer has no card is a card invoice
// (never silently a bank transfer); it waits in awaiting_action with the reason, a manual
// retry is allowed (it still has nothing to charge), and a card added later charges it
// at once.
func TestNoCardWaitsThenNewCardChargesAtOnce(t *testing.T) {
	f := newFixture(t, setup{})
	f.expect("invoice method", f.inv.PaymentMethod, "card")
	var waiting c.PaymentState
	var retry *updateResult
	f.at(time.Hour, func() {
		waiting = f.state()
		retry = f.update(c.UpdateRetry, c.RetryRequest{RequestedBy: "support"})
	})
	f.at(5*time.Hour, func() {
		pm := f.addPaymentMethod("card", "pm_card_visa")
		f.tenv.SignalWorkflow(c.SignalPaymentMethodUpdated, c.PaymentMethodUpdated{PaymentMethodID: pm})
	})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("waiting status", waiting.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("hold", waiting.Hold, c.HoldPaymentMethodMissing)
	if !strings.Contains(waiting.WaitingFor, "no active card") {
		t.Errorf("waiting for %q does not say why", waiting.WaitingFor)
	}
	if retry == nil || retry.rejected != nil || retry.err != nil {
		t.Fatalf("manual retry on an invoice without a card must be allowed: %+v", retry)
	}
	f.expect("retry outcome", retry.outcome.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("transactions", f.txnSummary(), []string{"card:settled"})
	f.expect("invoice", f.invoice().Status, "paid")
	ev := f.events()
	f.expect("no failure events for the wait", slices.Contains(ev, "invoice.transaction_failed") || slices.Contains(ev, "email.bank_transfer_instructions"), false)
}

// Issue 10 item 7: a decline code the networks say never to retry (here a direct debit
// whose mandate the customer revoked: declined / revocation_of_authorization) is a hard
// decline for everyone — stored on the transaction, the mandate marked errored, and the
// workflow waits for a new payment method instead of scheduling a blind retry.
func TestRevokedAuthorizationIsAHardDeclineEverywhere(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_sepa_fail", pmType: "direct_debit"})
	var after c.PaymentState
	f.at(time.Hour, func() {
		var ref string
		must(t, f.pool.QueryRow(context.Background(),
			`SELECT provider_reference FROM invoice_transactions WHERE invoice_id = $1 AND status = 'pending'`, f.inv.ID).Scan(&ref))
		f.tenv.SignalWorkflow(c.SignalProviderEvent, c.ProviderEvent{EventID: "evt_revoked", Reference: ref, Status: "failed",
			ErrorType: "declined", DeclineCode: "revocation_of_authorization"})
	})
	f.at(3*time.Hour, func() { after = f.state() })
	f.endAt(4 * time.Hour)
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	f.expect("status", after.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("no blind retry", f.retryTimers(), []time.Duration(nil))
	inv := f.invoice()
	f.expect("stored hard decline", inv.Transactions[0].HardDecline, true)
	var pmStatus string
	must(t, f.pool.QueryRow(context.Background(), `SELECT status FROM payment_methods WHERE provider_id = 'pm_sim_sepa_fail'`).Scan(&pmStatus))
	f.expect("mandate status", pmStatus, "errored")
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// An invoice with no payment method to charge waits until the schedule's deadline, then
// errors like a hard decline does: it ends within the deadline, never as a bank transfer.
func TestNoPaymentMethodUntilDeadlineErrors(t *testing.T) {
	f := newFixture(t, setup{subscription: true})
	f.endAt(60 * time.Hour)
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	f.expect("deadline timer", slices.Contains(f.timers, 38*time.Hour), true)
	f.expect("invoice", f.invoice().Status, "error")
	f.expect("subscription", f.subscriptionStatus(), "errored")
	f.expect("transactions", len(f.invoice().Transactions), 0)
	st := f.state()
	f.expect("status", st.PaymentStatus, c.PaymentErrored)
	if !strings.Contains(st.WaitingFor, "no payment method") {
		t.Errorf("waiting for %q does not say why", st.WaitingFor)
	}
}

// A direct debit whose outcome never arrives does not leave the invoice "processing" for
// ever: once overdue it waits in awaiting_action with the reason, and a late event still
// settles it.
func TestPendingChargeWithoutOutcomeBecomesActionable(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_sepa_settle", pmType: "direct_debit"})
	var pending, overdue c.PaymentState
	var retry *updateResult
	f.at(24*time.Hour, func() { pending = f.state() })
	f.at(pendingLimit+time.Hour, func() {
		overdue = f.state()
		retry = f.update(c.UpdateRetry, c.RetryRequest{})
	})
	// A new payment method meanwhile must not start a second charge while the first may
	// still settle.
	f.at(pendingLimit+90*time.Minute, func() {
		pm := f.addPaymentMethod("direct_debit", "pm_sim_sepa_fail")
		f.tenv.SignalWorkflow(c.SignalPaymentMethodUpdated, c.PaymentMethodUpdated{PaymentMethodID: pm})
	})
	f.at(pendingLimit+2*time.Hour, func() { f.deliverSEPA("settled", "evt_late") })
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("pending", pending.PaymentStatus, c.PaymentProcessing)
	f.expect("overdue status", overdue.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("overdue hold", overdue.Hold, c.HoldProviderOutcomeOverdue)
	if !strings.Contains(overdue.WaitingFor, "check it at the provider") {
		t.Errorf("waiting for %q does not say what to do", overdue.WaitingFor)
	}
	if retry == nil || retry.rejected == nil || errType(retry.rejected) != c.ErrChargeInFlight {
		t.Errorf("a retry while the charge may still settle must be refused: %+v", retry)
	}
	f.expect("transactions", f.txnSummary(), []string{"direct_debit:settled"})
	f.expect("charges sent", f.starts("ChargeAttempt"), 1)
	f.expect("invoice", f.invoice().Status, "paid")
}

// A step whose retries run out on an infrastructure failure (here the database answers
// lock_not_available, SQLSTATE 55P03, to every try) parks the workflow with the reason,
// then runs again by itself later: once the database answers, the invoice is collected
// without an operator.
func TestStepOutOfRetriesResumesByItself(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_visa"})
	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `
		CREATE FUNCTION test_busy() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'busy' USING ERRCODE = '55P03'; END $$;
		CREATE TRIGGER test_busy BEFORE INSERT ON invoice_transactions FOR EACH ROW EXECUTE FUNCTION test_busy();`)
	must(t, err)
	var parked c.PaymentState
	f.at(10*time.Minute, func() {
		parked = f.state()
		_, err := f.pool.Exec(ctx, `DROP TRIGGER test_busy ON invoice_transactions`)
		must(t, err)
	})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("parked status", parked.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("parked hold", parked.Hold, c.HoldStepFailed)
	// The reason names the failure: the database's code, or (the test environment runs a
	// local activity's retries against its skipping clock) their deadline.
	if parked.ResumeStepAt == nil || !(strings.Contains(parked.HoldReason, "55P03") || strings.Contains(parked.HoldReason, "deadline exceeded")) ||
		!strings.Contains(parked.HoldReason, "runs again by itself") {
		t.Errorf("parked without a resume time or a reason: %+v", parked)
	}
	f.expect("attempt-step tries (bounded)", f.starts("StartAttempt") >= 2 && f.starts("StartAttempt") <= 12, true)
	f.expect("invoice", f.invoice().Status, "paid")
	f.expect("transactions", f.txnSummary(), []string{"card:settled"})
}
