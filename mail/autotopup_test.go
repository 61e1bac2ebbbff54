package mail

import (
	"bytes"
	"context"
	"io"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"

	"payorch/ledger"
	"payorch/ledger/ledgertest"
)

// TestAutoTopUpDisabledEmail: three declined auto loads switch the wallet's auto top-up off;
// the customer gets one email saying so, with the amount, the count and a portal link.
func TestAutoTopUpDisabledEmail(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := ledger.New(f.pool)
	cust := f.customer("Ada", "ada@example.com", "en")
	ledgertest.DefaultMethod(t, f.pool, cust, ledgertest.PMDecline)
	below := "20.00"
	s := ledger.SettingsInput{AutoTopUp: ledger.OptionalAutoTopUp{Set: true, Value: &ledger.AutoTopUpInput{Below: &below, Amount: "50.00"}}}
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust, Settings: &s})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "10.00", Type: ledger.LoadFree}); err != nil {
		t.Fatal(err)
	}
	provider := ledgertest.NewFakeProvider()
	for range 3 {
		d, err := l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, cust, "1.00"), 1)
		if err != nil || d.Automation.AutoTopUpLoadID == "" {
			t.Fatalf("debit %+v, %v", d, err)
		}
		id := d.Automation.AutoTopUpLoadID
		if _, err := l.PrepareLoad(ctx, id); err != nil {
			t.Fatal(err)
		}
		req, err := l.LoadChargeRequest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		res, _ := provider.Charge(ctx, req)
		if ld, err := l.CompleteLoad(ctx, id, res); err != nil || ld.Status != ledger.LoadFailed {
			t.Fatalf("load %+v, %v", ld, err)
		}
	}
	srv := newSMTPServer(t, smtpOpts{})
	if st := f.run(f.smtpMailer(srv)); st.Sent != 1 {
		t.Fatalf("stats %+v, want the one switch-off email sent", st)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(srv.messages()[0].Raw))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(msg.Body)
	body, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	text := string(body)
	if subj := msg.Header.Get("Subject"); subj != "Your wallet's auto top-up is switched off" ||
		!strings.Contains(text, "50.00 EUR") || !strings.Contains(text, "last 3 automatic payments") || !strings.Contains(text, "portal") {
		t.Fatalf("subject %q, body:\n%s", msg.Header.Get("Subject"), text)
	}
}
