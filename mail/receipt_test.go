package mail

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"payorch/documents/pdf"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/payments"
)

// TestLoadReceiptEmailCarriesPDF: a settled paid load's receipt email has the receipt PDF
// attached, named by its number, whose text names the number and says it is informational.
func TestLoadReceiptEmailCarriesPDF(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := ledger.New(f.pool)
	cust := f.customer("Ada", "ada@example.com", "en")
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	if err != nil {
		t.Fatal(err)
	}
	ledgertest.DefaultMethod(t, f.pool, cust, ledgertest.PMSettle)
	ld, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "40.00", Type: ledger.LoadPaid})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.PrepareLoad(ctx, ld.ID); err != nil {
		t.Fatal(err)
	}
	done, err := l.CompleteLoad(ctx, ld.ID, payments.ChargeResult{Status: payments.StatusSettled, Reference: "pi_1"})
	if err != nil || done.Receipt == nil {
		t.Fatalf("load %+v %v", done, err)
	}
	srv := newSMTPServer(t, smtpOpts{})
	m := f.smtpMailer(srv)
	m.ReceiptPDF = ReceiptPDF(pdf.New(f.pool, pdf.Merchant{Name: "Acme SAS"}))
	if st := f.run(m); st.Sent != 1 {
		t.Fatalf("stats %+v", st)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(msgs[0].Raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: the receipt is not attached:\n%s", msg.Header.Get("Content-Type"), msgs[0].Raw)
	}
	var attached []byte
	var name string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct == "application/pdf" {
			raw, _ := io.ReadAll(part)
			if attached, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(raw)), "")); err != nil {
				t.Fatalf("attachment is not base64: %v", err)
			}
			name = part.FileName()
		}
	}
	number := done.Receipt.Number
	if attached == nil || name != number+".pdf" {
		t.Fatalf("attachment %q (%d bytes), want %s.pdf", name, len(attached), number)
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext is missing: run make deps (it installs Debian's poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, attached, 0o600); err != nil {
		t.Fatal(err)
	}
	text, err := exec.Command(bin, path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, text)
	}
	for _, want := range []string{number, "Informational receipt", "no accounting impact", "40.00 EUR", "Acme SAS"} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("attached receipt lacks %q:\n%s", want, text)
		}
	}
}
