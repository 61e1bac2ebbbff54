package api

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"payorch/documents/pdf"
	"payorch/ledger/ledgertest"
)

var testMerchant = pdf.Merchant{Name: "Acme Édition SAS", Address: "1 rue de la Paix\n75002 Paris", Email: "billing@acme.test", TaxID: "FR40123456789"}

var spaces = regexp.MustCompile(`[ \t]+`)

// pdfText checks a PDF response (status 200, Content-Type, file name) and returns its
// text as pdftotext reads it, each run of blanks made one space.
func pdfText(t *testing.T, r response, wantName string) string {
	t.Helper()
	mustStatus(t, r, 200)
	if ct := r.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="`+wantName+`"` {
		t.Fatalf("Content-Disposition %q, want the file name %s", cd, wantName)
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext is missing: run make deps (it installs Debian's poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), wantName)
	if err := os.WriteFile(path, r.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-layout", "-enc", "UTF-8", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, out)
	}
	return spaces.ReplaceAllString(string(out), " ")
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Fatalf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// TestInvoicePDF: the invoice PDF shows merchant, customer, number, lines, total, each
// payment by source with its date (wallet, card, bank transfer) and what is still due;
// a voided invoice says VOIDED.
func TestInvoicePDF(t *testing.T) {
	h := newInvoiceHarness(t)
	h.srv.docs = pdf.New(h.pool, testMerchant)
	cust := h.customer("EUR")
	wallet := h.wallet(cust, map[string]any{"auto_debit": true})["id"].(string)
	mustStatus(t, h.load(wallet, map[string]any{"amount": "10.00", "type": "free"}), 201)
	h.method(cust, "pm_card_visa")

	inv := h.invoice(cust, nil)
	id, number := inv["id"].(string), inv["number"].(string)
	if !regexp.MustCompile(`^INV-20\d\d-\d{6}$`).MatchString(number) {
		t.Fatalf("invoice number %q", number)
	}
	paid := h.waitInvoice(id, "paid by wallet and card", func(m map[string]any) bool { return m["status"] == "paid" })
	day := paid["paid_at"].(string)[:10]
	text := pdfText(t, h.do("GET", "/v1/invoices/"+id+"/pdf", supportKey, nil), number+".pdf")
	mustContain(t, "paid invoice PDF", text,
		"Acme Édition SAS", "75002 Paris", "FR40123456789", "Invoice", number, "Ada", "ada@example.com",
		"Pro plan", "Total 30.00 EUR", "Wallet "+day+" 10.00 EUR", "Card "+day+" 20.00 EUR",
		"Amount paid 30.00 EUR", "Amount due 0.00 EUR", "PAID")

	// A bank transfer paid in part, then voided.
	bt := h.invoice(cust, map[string]any{"payment_method": "bank_transfer"})
	btID, btNumber := bt["id"].(string), bt["number"].(string)
	if btNumber == number {
		t.Fatal("two invoices share a number")
	}
	rec := h.do("POST", "/v1/invoices/"+btID+"/reconcile", supportKey, map[string]any{"amount": "12.00", "reference": "TRX-77", "paid_at": "2026-01-02T00:00:00Z"})
	mustStatus(t, rec, 200)
	text = pdfText(t, h.do("GET", "/v1/invoices/"+btID+"/pdf", backendKey, nil), btNumber+".pdf")
	mustContain(t, "partly paid invoice PDF", text, btNumber, "Bank transfer (reference TRX-77) 2026-01-02 12.00 EUR",
		"Amount paid 12.00 EUR", "Amount due 18.00 EUR")
	if strings.Contains(text, "VOIDED") || strings.Contains(text, "PAID") {
		t.Fatalf("an open invoice is stamped:\n%s", text)
	}
	mustStatus(t, h.do("POST", "/v1/invoices/"+btID+"/void", backendKey, map[string]any{"reason": "duplicate"}), 200)
	text = pdfText(t, h.do("GET", "/v1/invoices/"+btID+"/pdf", backendKey, nil), btNumber+".pdf")
	mustContain(t, "voided invoice PDF", text, "VOIDED", "Amount due 0.00 EUR")

	mustStatus(t, h.do("GET", "/v1/invoices/"+id+"/pdf", "", nil), 401)
	r := h.do("GET", "/v1/invoices/inv_nope/pdf", backendKey, nil)
	mustStatus(t, r, 404)
}

// TestReceiptsAndCreditNotes: a paid load's receipt and a free load's credit note, listed,
// read and rendered; the credit note shows VOIDED once its load is reverted.
func TestReceiptsAndCreditNotes(t *testing.T) {
	h := newWalletHarness(t)
	h.srv.docs = pdf.New(h.pool, testMerchant)
	cust, wallet := h.newWallet(ledgertest.PMSettle)
	other, otherWallet := h.newWallet(ledgertest.PMSettle)
	paid := h.load(wallet, map[string]any{"amount": "50.00", "type": "paid"}).JSON(t)
	free := h.load(wallet, map[string]any{"amount": "30.00", "type": "free"}).JSON(t)
	mustStatus(t, h.load(otherWallet, map[string]any{"amount": "7.00", "type": "free"}), 201)
	rc, cn := paid["receipt"].(map[string]any), free["credit_note"].(map[string]any)
	if rc["number"] != docNumber("RCT", 1) || cn["number"] != docNumber("CN", 1) {
		t.Fatalf("receipt %v, credit note %v", rc["number"], cn["number"])
	}

	l := h.do("GET", "/v1/receipts?customer_id="+cust, supportKey, nil)
	mustStatus(t, l, 200)
	if data := l.JSON(t)["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != rc["id"] {
		t.Fatalf("receipts %s", l.Body)
	}
	cl := h.do("GET", "/v1/credit-notes", supportKey, nil).JSON(t)["data"].([]any)
	if len(cl) != 2 || cl[0].(map[string]any)["customer_id"] != other || cl[1].(map[string]any)["id"] != cn["id"] {
		t.Fatalf("credit notes %v", cl)
	}
	if g := h.do("GET", "/v1/receipts/"+rc["id"].(string), supportKey, nil).JSON(t); g["number"] != rc["number"] {
		t.Fatalf("receipt %v", g)
	}

	invNumber := h.do("GET", "/v1/invoices/"+paid["invoice_id"].(string), backendKey, nil).JSON(t)["number"].(string)
	text := pdfText(t, h.do("GET", "/v1/receipts/"+rc["id"].(string)+"/pdf", supportKey, nil), rc["number"].(string)+".pdf")
	mustContain(t, "receipt PDF", text, "Receipt", rc["number"].(string), "Informational receipt — no accounting impact",
		invNumber, "Wallet top-up, paid by card", "Amount received 50.00 EUR", "Acme Édition SAS")

	cnPath := "/v1/credit-notes/" + cn["id"].(string)
	text = pdfText(t, h.do("GET", cnPath+"/pdf", backendKey, nil), cn["number"].(string)+".pdf")
	mustContain(t, "credit note PDF", text, "Credit note", cn["number"].(string), "Free wallet credit", "Total credited 30.00 EUR")
	if strings.Contains(text, "VOIDED") {
		t.Fatalf("an issued credit note says VOIDED:\n%s", text)
	}
	mustStatus(t, h.do("POST", "/v1/wallets/"+wallet+"/transactions/"+free["wallet_transaction_id"].(string)+"/revert", supportKey, nil), 201)
	if g := h.do("GET", cnPath, supportKey, nil).JSON(t); g["status"] != "voided" {
		t.Fatalf("credit note after revert %v", g)
	}
	text = pdfText(t, h.do("GET", cnPath+"/pdf", backendKey, nil), cn["number"].(string)+".pdf")
	mustContain(t, "reverted credit note PDF", text, "VOIDED", cn["number"].(string), "30.00 EUR")

	mustStatus(t, h.do("GET", "/v1/receipts", "", nil), 401)
	mustStatus(t, h.do("GET", "/v1/credit-notes/cn_nope", backendKey, nil), 404)
	mustStatus(t, h.do("GET", "/v1/receipts/rcp_nope/pdf", backendKey, nil), 404)
	mustStatus(t, h.do("GET", "/v1/receipts?limit=0", backendKey, nil), 400)
}
