package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/shopspring/decimal"

	"payorch/money"
)

// Template kinds: one per email payorch sends.
const (
	// KindPaymentFailed asks the customer to fix their payment method on their portal.
	KindPaymentFailed = "payment_failed"
	// KindPaymentFailedNeutral says a payment did not go through and gives no reason (fraud).
	KindPaymentFailedNeutral = "payment_failed_neutral"
	// KindBankTransfer is an invoice to pay by bank transfer, with the instructions.
	KindBankTransfer = "bank_transfer"
	// KindLoadReceipt is the receipt of a paid wallet load.
	KindLoadReceipt = "load_receipt"
	// KindAutoTopUpDisabled says the wallet's auto top-up switched itself off after failed loads.
	KindAutoTopUpDisabled = "auto_top_up_disabled"
)

// Kinds lists every template kind.
var Kinds = []string{KindPaymentFailed, KindPaymentFailedNeutral, KindBankTransfer, KindLoadReceipt, KindAutoTopUpDisabled}

// Languages are the languages templates exist in; DefaultLanguage is used for any other.
var Languages = []string{"en", "fr"}

// DefaultLanguage is the language of customers whose language has no templates.
const DefaultLanguage = "en"

//go:embed templates
var templateFS embed.FS

// Rendered is one email's subject and bodies.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
	// Language is the language the templates were in.
	Language string
}

type templateSet struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// templates[lang][kind], parsed once; a broken template stops the process at start.
var templates = mustParse()

func mustParse() map[string]map[string]templateSet {
	out := map[string]map[string]templateSet{}
	for _, lang := range Languages {
		out[lang] = map[string]templateSet{}
		for _, kind := range Kinds {
			base := "templates/" + lang + "/" + kind
			out[lang][kind] = templateSet{
				subject: texttemplate.Must(texttemplate.New(kind+".subject.tmpl").Option("missingkey=error").ParseFS(templateFS, base+".subject.tmpl")),
				text:    texttemplate.Must(texttemplate.New(kind+".txt.tmpl").Option("missingkey=error").ParseFS(templateFS, base+".txt.tmpl")),
				html: htmltemplate.Must(htmltemplate.New("layout.html.tmpl").Option("missingkey=error").
					ParseFS(templateFS, "templates/layout.html.tmpl", base+".html.tmpl")),
			}
		}
	}
	return out
}

// Language returns the template language for a customer language ("fr-FR" → "fr"),
// DefaultLanguage when there are no templates in it.
func Language(customerLanguage string) string {
	l := strings.ToLower(strings.TrimSpace(customerLanguage))
	if i := strings.IndexAny(l, "-_"); i > 0 {
		l = l[:i]
	}
	if slices.Contains(Languages, l) {
		return l
	}
	return DefaultLanguage
}

// Render renders the email kind in the customer's language with view (one of the view
// types of this package).
func Render(kind, customerLanguage string, view any) (Rendered, error) {
	lang := Language(customerLanguage)
	set, ok := templates[lang][kind]
	if !ok {
		return Rendered{}, fmt.Errorf("mail: no template %q", kind)
	}
	var subj, text, html bytes.Buffer
	if err := set.subject.Execute(&subj, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: render %s/%s subject: %w", lang, kind, err)
	}
	if err := set.text.Execute(&text, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: render %s/%s text: %w", lang, kind, err)
	}
	if err := set.html.Execute(&html, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: render %s/%s html: %w", lang, kind, err)
	}
	// A subject is one line, whatever the data holds.
	subject := strings.Join(strings.Fields(subj.String()), " ")
	return Rendered{Subject: subject, Text: strings.TrimSpace(text.String()) + "\n", HTML: html.String(), Language: lang}, nil
}

// Base is what every email view has.
type Base struct {
	// Lang is the template language (set by the mailer).
	Lang string
	// Name is the customer's name.
	Name string
	// Sender signs the email (the display name of PAYORCH_MAIL_FROM).
	Sender string
}

// PaymentFailedView fills KindPaymentFailed.
type PaymentFailedView struct {
	Base
	InvoiceID string
	// Amount is the formatted amount due ("12.50 EUR", "12,50 EUR").
	Amount    string
	PortalURL string
	// Reason is expired, declined, insufficient_funds, authentication, invalid or not_supported.
	Reason string
}

// NeutralView fills KindPaymentFailedNeutral: it has no field for a reason, by design.
type NeutralView struct {
	Base
	InvoiceID string
	Amount    string
}

// BankTransferView fills KindBankTransfer.
type BankTransferView struct {
	Base
	InvoiceID    string
	Amount       string
	Instructions BankInstructions
	PortalURL    string
}

// LoadReceiptView fills KindLoadReceipt.
type LoadReceiptView struct {
	Base
	// ReceiptID is the receipt's number (RCT-2026-000042), or its id.
	ReceiptID string
	Amount    string
	PaidAt    string
	PortalURL string
}

// AutoTopUpDisabledView fills KindAutoTopUpDisabled.
type AutoTopUpDisabledView struct {
	Base
	// Amount is what each auto load charged.
	Amount string
	// Failures is how many auto loads failed in a row.
	Failures  int
	PortalURL string
}

// FormatAmount renders a decimal string with the currency's decimals, in the language's
// convention ("1234.50 EUR" in English, "1 234,50 EUR" in French). A value that does not
// parse is shown as given.
func FormatAmount(amount, currency, lang string) string {
	d, err := decimal.NewFromString(strings.TrimSpace(amount))
	if err != nil {
		return strings.TrimSpace(amount + " " + currency)
	}
	s := d.StringFixed(2)
	if _, err := money.Exponent(currency); err == nil {
		s = money.Format(d, currency)
	}
	if Language(lang) == "fr" {
		intPart, frac, _ := strings.Cut(s, ".")
		var b strings.Builder
		for i, r := range intPart {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteRune('\u00a0')
			}
			b.WriteRune(r)
		}
		s = b.String()
		if frac != "" {
			s += "," + frac
		}
	}
	return s + " " + currency
}

var frMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
	"septembre", "octobre", "novembre", "décembre"}

// FormatDate renders a date in the language ("March 5, 2026", "5 mars 2026"), in UTC.
func FormatDate(t time.Time, lang string) string {
	t = t.UTC()
	if Language(lang) == "fr" {
		return fmt.Sprintf("%d %s %d", t.Day(), frMonths[t.Month()-1], t.Year())
	}
	return t.Format("January 2, 2006")
}
