package mail

import (
	"strings"
	"testing"
)

// TestBankTransferAccountsWithoutIBAN: a provider's GBP or USD account (sort code or
// routing number, and account number) is shown as such, with no empty IBAN line.
func TestBankTransferAccountsWithoutIBAN(t *testing.T) {
	for _, lang := range Languages {
		for name, c := range map[string]struct {
			ins  BankInstructions
			want []string
		}{
			"gb": {BankInstructions{AccountHolder: "Stripe Payments UK", SortCode: "108800", AccountNumber: "00012345", Reference: "REFGB"},
				[]string{"108800", "00012345", "REFGB"}},
			"us": {BankInstructions{BankName: "Test Bank", RoutingNumber: "110000000", AccountNumber: "000123456789", Reference: "REFUS"},
				[]string{"110000000", "000123456789", "REFUS", "Test Bank"}},
		} {
			r, err := Render(KindBankTransfer, lang, BankTransferView{Base: Base{Lang: lang, Name: "Ada", Sender: "Acme"},
				InvoiceID: "INV-1", Amount: "12.50", Instructions: c.ins})
			if err != nil {
				t.Fatalf("%s/%s: %v", lang, name, err)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Text, w) || !strings.Contains(r.HTML, w) {
					t.Errorf("%s/%s: %q missing:\n%s", lang, name, w, r.Text)
				}
			}
			if strings.Contains(r.Text, "IBAN") || strings.Contains(r.HTML, "IBAN") {
				t.Errorf("%s/%s: an IBAN line without an IBAN:\n%s", lang, name, r.Text)
			}
		}
	}
}
