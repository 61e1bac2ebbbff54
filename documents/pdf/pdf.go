// Package pdf renders payorch's documents as PDF: the invoice (lines, total, the payment
// breakdown by source with dates, what is still due, VOIDED when voided), the receipt of a
// paid wallet load (informational, no accounting impact) and the credit note of a free
// load (VOIDED once the load is reverted; its expiry date when the credit expires). Merchant details come from configuration
// (PAYORCH_MERCHANT_*). Text is UTF-8 in the embedded Go fonts.
package pdf

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"payorch/apperr"
	"payorch/customers"
	"payorch/invoices"
	"payorch/ledger"
	"payorch/money"
)

// Merchant is who issues the documents (PAYORCH_MERCHANT_NAME, _ADDRESS, _EMAIL, _TAX_ID).
type Merchant struct {
	Name string
	// Address is one or more lines, separated by newlines.
	Address string
	Email   string
	// TaxID is the VAT or tax number printed under the address.
	TaxID string
}

// File is a rendered document.
type File struct {
	// Name is the download file name: the document's number and ".pdf".
	Name  string
	Bytes []byte
}

// Service loads documents and renders them.
type Service struct {
	Merchant  Merchant
	invoices  *invoices.Service
	ledger    *ledger.Ledger
	customers *customers.Service
}

// New returns a Service reading from pool.
func New(pool *pgxpool.Pool, m Merchant) *Service {
	return &Service{Merchant: m, invoices: invoices.NewService(pool), ledger: ledger.New(pool), customers: customers.NewService(pool)}
}

// Invoice renders an invoice. With customerID set, another customer's invoice is a 404.
func (s *Service) Invoice(ctx context.Context, id string, customerID *string) (File, error) {
	inv, err := s.invoices.Get(ctx, id)
	if err != nil {
		return File{}, err
	}
	if customerID != nil && inv.CustomerID != *customerID {
		return File{}, apperr.NotFoundf("invoice", id)
	}
	cust, err := s.customers.Get(ctx, inv.CustomerID)
	if err != nil {
		return File{}, err
	}
	return s.render(inv.Number, func(d *doc) { d.invoice(inv, cust) })
}

// Receipt renders the receipt of a paid load. With customerID set, another customer's
// receipt is a 404.
func (s *Service) Receipt(ctx context.Context, id string, customerID *string) (File, error) {
	rc, err := s.ledger.GetReceipt(ctx, id, customerID)
	if err != nil {
		return File{}, err
	}
	cust, err := s.customers.Get(ctx, rc.CustomerID)
	if err != nil {
		return File{}, err
	}
	inv, err := s.invoices.Get(ctx, rc.InvoiceID)
	if err != nil {
		return File{}, err
	}
	return s.render(rc.Number, func(d *doc) { d.receipt(rc, inv, cust) })
}

// CreditNote renders the credit note of a free load. With customerID set, another
// customer's credit note is a 404.
func (s *Service) CreditNote(ctx context.Context, id string, customerID *string) (File, error) {
	cn, err := s.ledger.GetCreditNote(ctx, id, customerID)
	if err != nil {
		return File{}, err
	}
	cust, err := s.customers.Get(ctx, cn.CustomerID)
	if err != nil {
		return File{}, err
	}
	return s.render(cn.Number, func(d *doc) { d.creditNote(cn, cust) })
}

func (s *Service) render(number string, body func(*doc)) (File, error) {
	f := fpdf.New("P", "mm", "A4", "")
	f.AddUTF8FontFromBytes(font, "", goregular.TTF)
	f.AddUTF8FontFromBytes(font, "B", gobold.TTF)
	f.SetTitle(number, true)
	f.SetAuthor(s.Merchant.Name, true)
	f.SetCreator("payorch", true)
	f.SetMargins(18, 18, 18)
	f.SetAutoPageBreak(true, 18)
	f.AddPage()
	d := &doc{f: f, m: s.Merchant}
	body(d)
	if err := f.Error(); err != nil {
		return File{}, fmt.Errorf("render %s: %w", number, err)
	}
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		return File{}, fmt.Errorf("render %s: %w", number, err)
	}
	return File{Name: number + ".pdf", Bytes: buf.Bytes()}, nil
}

const font = "go"

// doc writes one document on an A4 page (content width 174 mm).
type doc struct {
	f *fpdf.Fpdf
	m Merchant
}

const width = 174.0

func (d *doc) text(size float64, bold bool, s string) {
	style := ""
	if bold {
		style = "B"
	}
	d.f.SetFont(font, style, size)
	d.f.MultiCell(width, size*0.5, s, "", "L", false)
}

// header prints the merchant on the left, the document's title, number and dates on the right.
func (d *doc) header(title, number string, facts [][2]string) {
	top := d.f.GetY()
	d.f.SetFont(font, "B", 14)
	name := d.m.Name
	if name == "" {
		name = "payorch"
	}
	d.f.MultiCell(95, 7, name, "", "L", false)
	d.f.SetFont(font, "", 9)
	var lines []string
	for _, l := range strings.Split(d.m.Address, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if d.m.Email != "" {
		lines = append(lines, d.m.Email)
	}
	if d.m.TaxID != "" {
		lines = append(lines, "Tax ID: "+d.m.TaxID)
	}
	for _, l := range lines {
		d.f.MultiCell(95, 4.5, l, "", "L", false)
	}
	left := d.f.GetY()
	d.f.SetXY(18+95, top)
	d.f.SetFont(font, "B", 16)
	d.f.CellFormat(width-95, 8, title, "", 2, "R", false, 0, "")
	d.f.SetFont(font, "B", 11)
	d.f.CellFormat(width-95, 6, number, "", 2, "R", false, 0, "")
	d.f.SetFont(font, "", 9)
	for _, kv := range facts {
		d.f.CellFormat(width-95, 4.5, kv[0]+": "+kv[1], "", 2, "R", false, 0, "")
	}
	if y := d.f.GetY(); y > left {
		left = y
	}
	d.f.SetXY(18, left+8)
}

func (d *doc) billedTo(c customers.Customer) {
	d.f.SetFont(font, "B", 9)
	d.f.CellFormat(width, 5, "Billed to", "", 1, "L", false, 0, "")
	d.f.SetFont(font, "", 10)
	d.f.CellFormat(width, 5, c.Name, "", 1, "L", false, 0, "")
	d.f.CellFormat(width, 5, c.Email, "", 1, "L", false, 0, "")
	d.f.SetFont(font, "", 8)
	d.f.CellFormat(width, 4.5, "Customer "+c.ID, "", 1, "L", false, 0, "")
	d.f.Ln(6)
}

// stamp prints a large word (VOIDED, PAID) in a box.
func (d *doc) stamp(word string, r, g, b int) {
	d.f.SetTextColor(r, g, b)
	d.f.SetDrawColor(r, g, b)
	d.f.SetFont(font, "B", 22)
	d.f.CellFormat(60, 12, word, "1", 1, "C", false, 0, "")
	d.f.SetTextColor(0, 0, 0)
	d.f.SetDrawColor(0, 0, 0)
	d.f.Ln(4)
}

// table prints a header row and rows of (description, date, amount).
func (d *doc) table(head [3]string, rows [][3]string) {
	cols := [3]float64{104, 35, 35}
	d.f.SetFont(font, "B", 9)
	d.f.SetFillColor(235, 235, 235)
	for i, h := range head {
		align := "L"
		if i == 2 {
			align = "R"
		}
		d.f.CellFormat(cols[i], 7, h, "B", 0, align, true, 0, "")
	}
	d.f.Ln(-1)
	d.f.SetFont(font, "", 9)
	for _, r := range rows {
		for i, v := range r {
			align := "L"
			if i == 2 {
				align = "R"
			}
			d.f.CellFormat(cols[i], 6.5, v, "B", 0, align, false, 0, "")
		}
		d.f.Ln(-1)
	}
	d.f.Ln(2)
}

// total prints a label and an amount right-aligned under a table.
func (d *doc) total(label, amount string, bold bool) {
	style := ""
	if bold {
		style = "B"
	}
	d.f.SetFont(font, style, 10)
	d.f.CellFormat(139, 6.5, label, "", 0, "R", false, 0, "")
	d.f.CellFormat(35, 6.5, amount, "", 1, "R", false, 0, "")
}

func (d *doc) invoice(inv invoices.Invoice, c customers.Customer) {
	facts := [][2]string{{"Issued", day(inv.CreatedAt)}}
	if inv.PeriodStart != nil && inv.PeriodEnd != nil {
		facts = append(facts, [2]string{"Period", day(*inv.PeriodStart) + " – " + day(*inv.PeriodEnd)})
	}
	facts = append(facts, [2]string{"Status", statusLabel(inv.Status)})
	d.header("Invoice", inv.Number, facts)
	d.billedTo(c)
	switch inv.Status {
	case invoices.StatusVoided:
		d.stamp("VOIDED", 200, 0, 0)
		if inv.VoidedAt != nil {
			d.text(9, false, "This invoice was voided on "+day(*inv.VoidedAt)+"; nothing is due.")
			d.f.Ln(3)
		}
	case invoices.StatusPaid:
		d.stamp("PAID", 0, 130, 60)
	}
	rows := make([][3]string, len(inv.Lines))
	for i, l := range inv.Lines {
		rows[i] = [3]string{l.Description, "", amount(l.Amount, inv.Currency)}
	}
	d.table([3]string{"Description", "", "Amount"}, rows)
	d.total("Total", amount(inv.Total, inv.Currency), true)
	d.f.Ln(6)

	d.f.SetFont(font, "B", 11)
	d.f.CellFormat(width, 7, "Payments", "", 1, "L", false, 0, "")
	var pays [][3]string
	for _, t := range inv.Transactions {
		if t.Status != "settled" && t.Status != "pending" {
			continue
		}
		desc := methodLabel(t.Method)
		if t.Reference != nil && *t.Reference != "" {
			desc += " (reference " + *t.Reference + ")"
		}
		if t.Status == "pending" {
			desc += " — pending"
		}
		when := t.CreatedAt
		if t.PaidAt != nil {
			when = *t.PaidAt
		}
		pays = append(pays, [3]string{desc, day(when), amount(t.Amount, t.Currency)})
	}
	if len(pays) == 0 {
		d.text(9, false, "No payment received yet.")
		d.f.Ln(2)
	} else {
		d.table([3]string{"Paid by", "Date", "Amount"}, pays)
	}
	d.total("Amount paid", amount(inv.AmountPaid, inv.Currency), false)
	due := amount(inv.AmountDue, inv.Currency)
	if inv.Status == invoices.StatusVoided {
		due = amount(money.Format(decimal.Zero, inv.Currency), inv.Currency)
	}
	d.total("Amount due", due, true)
}

func (d *doc) receipt(rc ledger.Receipt, inv invoices.Invoice, c customers.Customer) {
	d.header("Receipt", rc.Number, [][2]string{{"Issued", day(rc.IssuedAt)}, {"Invoice", inv.Number}})
	d.billedTo(c)
	d.text(10, true, "Informational receipt — no accounting impact.")
	d.text(9, false, "This receipt confirms a payment to your prepaid wallet. The accounting document is invoice "+inv.Number+".")
	d.f.Ln(4)
	d.table([3]string{"Description", "Date", "Amount"}, [][3]string{
		{"Wallet top-up, paid by " + strings.ToLower(methodLabel(rc.PaymentMethod)), day(rc.IssuedAt), amount(rc.Amount, rc.Currency)},
	})
	d.total("Amount received", amount(rc.Amount, rc.Currency), true)
	d.f.SetFont(font, "", 8)
	d.f.CellFormat(width, 5, "Wallet "+rc.WalletID+" · load "+rc.LoadID, "", 1, "L", false, 0, "")
}

func (d *doc) creditNote(cn ledger.CreditNote, c customers.Customer) {
	facts := [][2]string{{"Issued", day(cn.IssuedAt)}, {"Status", statusLabel(cn.Status)}}
	if cn.ExpiresAt != nil {
		facts = append(facts, [2]string{"Expires", day(*cn.ExpiresAt)})
	}
	d.header("Credit note", cn.Number, facts)
	d.billedTo(c)
	if cn.ExpiresAt != nil && cn.Status != "voided" {
		d.text(9, false, "This credit expires on "+cn.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")+
			": what is left of it then is taken back from the wallet.")
		d.f.Ln(3)
	}
	if cn.Status == "voided" {
		d.stamp("VOIDED", 200, 0, 0)
		if cn.VoidedAt != nil {
			d.text(9, false, "This credit note was voided on "+day(*cn.VoidedAt)+": the wallet credit was reverted.")
			d.f.Ln(3)
		}
	}
	d.table([3]string{"Description", "Date", "Amount"}, [][3]string{
		{"Free wallet credit (offered)", day(cn.IssuedAt), amount(cn.Amount, cn.Currency)},
	})
	d.total("Total credited", amount(cn.Amount, cn.Currency), true)
	d.f.SetFont(font, "", 8)
	d.f.CellFormat(width, 5, "Wallet "+cn.WalletID+" · load "+cn.LoadID, "", 1, "L", false, 0, "")
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func amount(a, currency string) string { return a + " " + currency }

func methodLabel(m string) string {
	switch m {
	case "wallet":
		return "Wallet"
	case "card":
		return "Card"
	case "direct_debit":
		return "Direct debit"
	case "bank_transfer":
		return "Bank transfer"
	case "manual":
		return "Manual payment"
	case "card_on_session":
		return "Card (authenticated)"
	}
	return m
}

func statusLabel(s string) string {
	switch s {
	case invoices.StatusToPay:
		return "to pay"
	case invoices.StatusError:
		return "payment failed"
	}
	return s
}
