package workflows

import (
	"context"
	"testing"
	"time"

	c "payorch/contracts"
	"payorch/invoices"
	"payorch/steps"
)

// A held automatic attempt is no attempt: it neither starts the schedule (its deadline)
// nor uses a charge number, so an invoice held for days still gets the whole schedule
// once its subscription is reactivated.
func TestHeldFirstAttemptStartsNoSchedule(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_visa", subscription: true})
	ctx := context.Background()
	is := invoices.NewService(f.pool)
	other, err := is.Create(ctx, invoices.CreateInput{CustomerID: f.cust.ID, SubscriptionID: &f.sub,
		Lines: []invoices.LineInput{{Description: "Last month", Amount: "30.00"}}})
	must(t, err)
	_, err = is.MarkErrored(ctx, other.ID) // the subscription is errored before this invoice's first attempt
	must(t, err)
	var held c.PaymentState
	f.at(72*time.Hour, func() {
		held = f.state()
		_, err := f.pool.Exec(ctx, `UPDATE subscriptions SET status = 'active' WHERE id = $1`, f.sub)
		must(t, err)
		f.tenv.SignalWorkflow(c.SignalSubscriptionReactivated, c.SubscriptionReactivated{SubscriptionID: f.sub})
	})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("held hold", held.Hold, c.HoldSubscriptionErrored)
	f.expect("charge number while held", held.ChargeNumber, 0)
	f.expect("schedule started while held", held.Deadline != nil || held.FirstAttemptAt != nil, false)
	f.expect("invoice", f.invoice().Status, "paid")
	f.expect("the paying charge is attempt 1", f.invoice().AttemptCount, int32(1))
}

// StartAttempt run twice for the same attempt after the wallet paid everything (the
// first answer lost): the second run still answers Paid with the subscription's other
// open invoices, so the workflow tells them.
func TestStartAttemptRepeatedAfterWalletPaidTellsHeldInvoices(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_visa", wallet: "50.00", subscription: true})
	ctx := context.Background()
	other, err := invoices.NewService(f.pool).Create(ctx, invoices.CreateInput{CustomerID: f.cust.ID, SubscriptionID: &f.sub,
		Lines: []invoices.LineInput{{Description: "Next month", Amount: "30.00"}}})
	must(t, err)
	in := steps.StartAttemptInput{InvoiceID: f.inv.ID, Attempt: 1}
	first, err := f.acts.StartAttempt(ctx, in)
	must(t, err)
	if first.Paid == nil || first.WalletPaid != "30" {
		t.Fatalf("first run %+v, want paid by the wallet", first)
	}
	again, err := f.acts.StartAttempt(ctx, in)
	must(t, err)
	if !again.Closed || again.Paid == nil || len(again.Paid.ResumeInvoices) != 1 || again.Paid.ResumeInvoices[0] != other.ID {
		t.Fatalf("repeated run %+v, want closed and paid, telling %s", again, other.ID)
	}
	var bal string
	must(t, f.pool.QueryRow(ctx, `SELECT balance::text FROM wallets WHERE customer_id = $1`, f.cust.ID).Scan(&bal))
	f.expect("wallet debited once", bal[:5], "20.00")
}

// A settled charge is recorded even when marking the invoice paid fails in the same
// transaction: the provider holds the money, so its record never rolls back with the
// paid status (which the workflow then sets as a step of its own).
func TestChargeRecordedWhenMarkingPaidFails(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_visa"})
	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `
		CREATE FUNCTION test_refuse_settled() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.type = 'invoice.settled' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER test_refuse_settled BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_refuse_settled();`)
	must(t, err)
	st, err := f.acts.StartAttempt(ctx, steps.StartAttemptInput{InvoiceID: f.inv.ID, Attempt: 1})
	must(t, err)
	if st.Charge.Transaction.Status != "pending" {
		t.Fatalf("start %+v, want a pending charge", st)
	}
	out, err := f.acts.ChargeAttempt(ctx, steps.ChargeRef{InvoiceID: f.inv.ID, ChargeNumber: 1})
	must(t, err)
	f.expect("charge recorded", out.Transaction.Status, "settled")
	f.expect("paid status left to its own step", out.Paid == nil, true)
	f.expect("snapshot settled", out.Snapshot.Settled, true)
	f.expect("invoice not yet paid", f.invoice().Status, "to_pay")
	_, err = f.pool.Exec(ctx, `DROP TRIGGER test_refuse_settled ON events`)
	must(t, err)
	closing, err := f.acts.MarkInvoicePaid(ctx, steps.InvoiceRef{InvoiceID: f.inv.ID})
	must(t, err)
	f.expect("paid by its own step", closing.InvoiceStatus, "paid")
	f.expect("one charge", f.simCharges(), 1)
}
