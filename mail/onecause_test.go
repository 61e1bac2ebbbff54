package mail

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"payorch/outbox"
	"payorch/store"
)

// TestOneEmailPerCause: a failure with the same error type and decline code on the same
// payment method as the last email sent about the invoice (a support agent's manual retry
// failing again) sends no email; another cause, another method or another invoice does.
func TestOneEmailPerCause(t *testing.T) {
	f := newFixture(t)
	srv := newSMTPServer(t, smtpOpts{})
	ada := f.customer("Ada Lovelace", "ada@example.com", "en")
	emit := func(invoice, errorType, decline, pm string) string {
		t.Helper()
		data := paymentFailed(ada, errorType, decline)
		data["invoice"].(map[string]any)["id"] = invoice
		data["transaction"].(map[string]any)["payment_method_id"] = pm
		var id string
		err := store.InTx(context.Background(), f.pool, func(q *store.Queries, _ pgx.Tx) error {
			var err error
			id, err = outbox.Emit(context.Background(), q, outbox.Event{Type: outbox.EmailPaymentFailed,
				ResourceType: "invoice", ResourceID: invoice, CustomerID: ada, Data: data})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	m := f.smtpMailer(srv)
	step := func(id, want string) {
		t.Helper()
		f.run(m)
		if got := f.row(id).Status; got != want {
			t.Fatalf("email %s is %s, want %s", id, got, want)
		}
	}
	step(emit("inv_a", "payment_method_declined", "insufficient_funds", "pmt_1"), "sent")
	// Support retries twice; the card fails the same way: no new email.
	step(emit("inv_a", "payment_method_declined", "insufficient_funds", "pmt_1"), "skipped")
	step(emit("inv_a", "payment_method_declined", "insufficient_funds", "pmt_1"), "skipped")
	// Another decline code is another cause.
	step(emit("inv_a", "payment_method_declined", "generic_decline", "pmt_1"), "sent")
	// The same failure on a new card is news to the customer.
	step(emit("inv_a", "payment_method_declined", "generic_decline", "pmt_2"), "sent")
	// Another error type, then back to the cause before it: compared with the last email.
	step(emit("inv_a", "payment_method_expired", "", "pmt_2"), "sent")
	step(emit("inv_a", "payment_method_declined", "generic_decline", "pmt_2"), "sent")
	// Another invoice failing the same way gets its own email.
	step(emit("inv_b", "payment_method_declined", "generic_decline", "pmt_2"), "sent")
	// Fraud (the neutral email) once per method as well.
	step(emit("inv_c", "fraud", "fraudulent", "pmt_2"), "sent")
	step(emit("inv_c", "fraud", "fraudulent", "pmt_2"), "skipped")
	if n := len(srv.messages()); n != 7 {
		t.Fatalf("%d emails sent, want 7", n)
	}
}
