package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"payorch/config"
	"payorch/declines"
	"payorch/internal/testenv/poll"
	"payorch/outbox"
	"payorch/store"
)

func TestTemplatesRenderInEnglishAndFrench(t *testing.T) {
	base := func(lang string) Base { return Base{Lang: lang, Name: "Ada <b>Lovelace</b>", Sender: "Acme Billing"} }
	views := map[string]func(lang string) any{
		KindPaymentFailed: func(l string) any {
			return PaymentFailedView{Base: base(l), InvoiceID: "inv_1", Amount: FormatAmount("12.5", "EUR", l),
				PortalURL: "https://portal.acme.test/cus_1", Reason: "expired"}
		},
		KindPaymentFailedNeutral: func(l string) any {
			return NeutralView{Base: base(l), InvoiceID: "inv_1", Amount: FormatAmount("12.5", "EUR", l)}
		},
		KindBankTransfer: func(l string) any {
			return BankTransferView{Base: base(l), InvoiceID: "inv_1", Amount: FormatAmount("12.5", "EUR", l),
				Instructions: BankInstructions{AccountHolder: "Acme SAS", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP", Reference: "inv_1"}}
		},
		KindLoadReceipt: func(l string) any {
			return LoadReceiptView{Base: base(l), ReceiptID: "RCP-000001", Amount: FormatAmount("50", "EUR", l), PaidAt: FormatDate(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), l)}
		},
		KindAutoTopUpDisabled: func(l string) any {
			return AutoTopUpDisabledView{Base: base(l), Amount: FormatAmount("50", "EUR", l), Failures: 3, PortalURL: "https://portal.example/x"}
		},
	}
	// A word of each language that must appear in every email of that language.
	marker := map[string]map[string]string{
		"en": {KindPaymentFailed: "Hello", KindPaymentFailedNeutral: "Hello", KindBankTransfer: "bank transfer", KindLoadReceipt: "wallet", KindAutoTopUpDisabled: "auto top-up"},
		"fr": {KindPaymentFailed: "Bonjour", KindPaymentFailedNeutral: "Bonjour", KindBankTransfer: "virement", KindLoadReceipt: "portefeuille", KindAutoTopUpDisabled: "rechargement automatique"},
	}
	for _, lang := range Languages {
		for _, kind := range Kinds {
			r, err := Render(kind, lang, views[kind](lang))
			if err != nil {
				t.Fatalf("%s/%s: %v", lang, kind, err)
			}
			all := r.Subject + r.Text + r.HTML
			if r.Language != lang || r.Subject == "" || strings.Contains(all, "<no value>") || strings.Contains(r.Subject, "\n") {
				t.Fatalf("%s/%s: %+v", lang, kind, r)
			}
			if !strings.Contains(r.Text, marker[lang][kind]) || !strings.Contains(r.HTML, marker[lang][kind]) {
				t.Fatalf("%s/%s lacks %q:\n%s", lang, kind, marker[lang][kind], r.Text)
			}
			if !strings.Contains(r.HTML, `<html lang="`+lang+`">`) || !strings.Contains(r.HTML, "Ada &lt;b&gt;Lovelace&lt;/b&gt;") {
				t.Fatalf("%s/%s HTML is not escaped or has no lang:\n%s", lang, kind, r.HTML)
			}
			if !strings.Contains(r.Text, "Ada <b>Lovelace</b>") || !strings.Contains(r.Text, "Acme Billing") {
				t.Fatalf("%s/%s text:\n%s", lang, kind, r.Text)
			}
		}
	}
	en, _ := Render(KindBankTransfer, "en", views[KindBankTransfer]("en"))
	fr, _ := Render(KindBankTransfer, "fr-FR", views[KindBankTransfer]("fr"))
	if !contains(en.Text, "12.50 EUR", "FR7630006000011234567890189", "AGRIFRPP", "Acme SAS") || !contains(fr.Text, "12,50 EUR", "FR7630006000011234567890189") {
		t.Fatalf("bank transfer:\n%s\n%s", en.Text, fr.Text)
	}
	enR, _ := Render(KindLoadReceipt, "en", views[KindLoadReceipt]("en"))
	frR, _ := Render(KindLoadReceipt, "fr", views[KindLoadReceipt]("fr"))
	if !contains(enR.Text, "50.00 EUR", "March 5, 2026", "RCP-000001") || !contains(frR.Text, "50,00 EUR", "5 mars 2026", "RCP-000001") {
		t.Fatalf("receipt:\n%s\n%s", enR.Text, frR.Text)
	}
	if Language("fr-CA") != "fr" || Language("de") != "en" || Language("") != "en" {
		t.Fatal("language fallback")
	}
	if got := FormatAmount("1234567.5", "EUR", "fr"); got != "1\u00a0234\u00a0567,50 EUR" {
		t.Fatalf("fr amount %q", got)
	}
	if got := FormatAmount("1000", "JPY", "en"); got != "1000 JPY" {
		t.Fatalf("JPY amount %q", got)
	}
	// A javascript: link never reaches an href.
	evil, err := Render(KindPaymentFailed, "en", PaymentFailedView{Base: base("en"), PortalURL: "javascript:alert(1)", Reason: "expired"})
	if err != nil || strings.Contains(evil.HTML, `href="javascript:`) {
		t.Fatalf("unsafe URL in HTML: %v\n%s", err, evil.HTML)
	}
}

func TestPaymentFailedRules(t *testing.T) {
	cases := []struct {
		errorType, decline, kind, reason string
		fraud                            bool
	}{
		{"payment_method_expired", "", KindPaymentFailed, "expired", false},
		{"payment_method_declined", "insufficient_funds", KindPaymentFailed, "insufficient_funds", false},
		{"payment_method_declined", "lost_card", KindPaymentFailed, "declined", false},
		{"declined", "", KindPaymentFailed, "declined", false},
		{"authentication_required", "", KindPaymentFailed, "authentication", false},
		{"payment_method_invalid", "", KindPaymentFailed, "invalid", false},
		{"payment_method_not_supported", "", KindPaymentFailed, "not_supported", false},
		{"fraud", "fraudulent", KindPaymentFailedNeutral, "", false},
		{"", "", KindPaymentFailedNeutral, "", true},
		{"processing_error", "", "", "", false},
		{"provider_error", "", "", "", false},
		{"payment_method_authorization_error", "", "", "", false},
		{"unknown", "", "", "", false},
	}
	for _, c := range cases {
		kind, reason := PaymentFailedKind(c.errorType, c.decline, c.fraud)
		if kind != c.kind || reason != c.reason {
			t.Errorf("%s/%s: got %q %q, want %q %q", c.errorType, c.decline, kind, reason, c.kind, c.reason)
		}
	}
}

func TestOneEmailPerEventOverSMTPWhateverRunsTwice(t *testing.T) {
	f := newFixture(t)
	srv := newSMTPServer(t, smtpOpts{})
	ada := f.customer("Ada Lovelace", "ada@example.com", "en")
	zoe := f.customer("Zoé Durand", "zoe@example.fr", "fr-FR")
	want := map[string]string{} // event id -> recipient
	want[f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "payment_method_expired", ""))] = "ada@example.com"
	want[f.emit(outbox.EmailPaymentFailed, zoe, paymentFailed(zoe, "payment_method_declined", "insufficient_funds"))] = "zoe@example.fr"
	want[f.emit(outbox.EmailBankTransferInstructions, zoe, bankTransfer(zoe))] = "zoe@example.fr"
	want[f.emit(outbox.EmailLoadReceipt, ada, receipt(ada))] = "ada@example.com"
	skipped := f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "processing_error", ""))
	f.emit(outbox.InvoiceSettled, ada, map[string]any{"id": "inv_1"}) // public: not an email

	// Two senders at once, then again, then after every lease has expired.
	var wg sync.WaitGroup
	for range 2 {
		m := f.smtpMailer(srv)
		m.BatchSize = 2
		wg.Go(func() {
			if _, err := m.RunOnce(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f.run(f.smtpMailer(srv))
	f.clock.Add(time.Hour)
	if st := f.run(f.smtpMailer(srv)); st != (Stats{}) {
		t.Fatalf("a later run did %+v", st)
	}

	msgs := srv.messages()
	if len(msgs) != len(want) {
		t.Fatalf("SMTP server got %d messages, want %d", len(msgs), len(want))
	}
	seen := map[string]bool{}
	for _, g := range msgs {
		p := parse(t, g.Raw)
		evt := p.Header.Get("X-Payorch-Event-Id")
		if seen[evt] || want[evt] == "" {
			t.Fatalf("unexpected or duplicate message for %q", evt)
		}
		seen[evt] = true
		if p.Header.Get("Message-Id") != "<"+evt+"@acme.test>" {
			t.Fatalf("Message-ID %q for %s", p.Header.Get("Message-Id"), evt)
		}
		if !slices.Equal(g.To, []string{want[evt]}) || g.From != "billing@acme.test" {
			t.Fatalf("envelope %s -> %v", g.From, g.To)
		}
		r := f.row(evt)
		if r.Status != StatusSent || *r.MessageID != p.Header.Get("Message-Id") || *r.Recipient != want[evt] ||
			*r.Location != "smtp://"+srv.Addr || *r.Subject != p.Subject {
			t.Fatalf("row %+v", r)
		}
		lang := "en"
		if want[evt] == "zoe@example.fr" {
			lang = "fr"
		}
		if p.Header.Get("Content-Language") != lang || *r.Language != lang {
			t.Fatalf("%s: language %q, want %q", evt, p.Header.Get("Content-Language"), lang)
		}
	}
	if r := f.row(skipped); r.Status != StatusSkipped || r.LastError == nil || !strings.Contains(*r.LastError, "processing_error") {
		t.Fatalf("skipped row %+v", r)
	}
	var n int
	if err := f.pool.QueryRow(context.Background(), "SELECT count(*) FROM mail_messages").Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d mail rows (%v), want one per email event", n, err)
	}
}

func TestPaymentFailedEmailContent(t *testing.T) {
	f := newFixture(t)
	srv := newSMTPServer(t, smtpOpts{})
	zoe := f.customer("Zoé Durand", "zoe@example.fr", "fr")
	ada := f.customer("Ada Lovelace", "ada@example.com", "en")
	fixable := f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "payment_method_declined", "insufficient_funds"))
	fixableFR := f.emit(outbox.EmailPaymentFailed, zoe, paymentFailed(zoe, "payment_method_expired", ""))
	fraud := f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "fraud", "fraudulent"))
	fraudFR := f.emit(outbox.EmailPaymentFailed, zoe, paymentFailed(zoe, "fraud", "merchant_blacklist"))
	f.run(f.smtpMailer(srv))
	byEvent := map[string]parsed{}
	for _, g := range srv.messages() {
		p := parse(t, g.Raw)
		byEvent[p.Header.Get("X-Payorch-Event-Id")] = p
	}
	if len(byEvent) != 4 {
		t.Fatalf("%d messages", len(byEvent))
	}
	en := byEvent[fixable]
	if !contains(en.Text, "Hello Ada Lovelace", "insufficient funds", "1234.50 EUR", "INV-2026-000123", "https://portal.acme.test/"+ada) ||
		!contains(en.HTML, `href="https://portal.acme.test/`+ada+`"`) || !strings.Contains(en.Subject, "INV-2026-000123") {
		t.Fatalf("fixable email:\n%s\n%s\n%s", en.Subject, en.Text, en.HTML)
	}
	fr := byEvent[fixableFR]
	if !contains(fr.Text, "Bonjour Zoé Durand", "La carte enregistrée a expiré", "1\u00a0234,50 EUR", "https://portal.acme.test/"+zoe) ||
		!strings.HasPrefix(fr.Subject, "Action requise") {
		t.Fatalf("French email:\n%s\n%s", fr.Subject, fr.Text)
	}
	for _, id := range []string{fraud, fraudFR} {
		p := byEvent[id]
		all := strings.ToLower(p.Subject + "\n" + p.Text + "\n" + p.HTML)
		for _, word := range []string{"fraud", "blacklist", "suspect", "declin", "refus", "bank", "banque", "reason", "raison", "portal.acme.test"} {
			if strings.Contains(all, word) {
				t.Fatalf("fraud email %s reveals %q:\n%s", id, word, all)
			}
		}
		if !strings.Contains(p.Text, "INV-2026-000123") {
			t.Fatalf("fraud email does not name the invoice:\n%s", p.Text)
		}
	}
	if !strings.Contains(byEvent[fraudFR].Text, "n'a pas pu aboutir") || !strings.Contains(byEvent[fraud].Text, "could not be completed") {
		t.Fatal("neutral emails not in the customer's language")
	}
}

func TestSMTPDownThenUpSendsOnce(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ada := f.customer("Ada", "ada@example.com", "en")
	evt := f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "authentication_required", ""))
	sender, _ := NewSMTPSender("smtp://" + addr)
	sender.Timeout = 2 * time.Second
	m := f.mailer(sender)
	if st := f.run(m); st.Retrying != 1 {
		t.Fatalf("stats %+v", st)
	}
	r := f.row(evt)
	if r.Status != StatusPending || r.Attempts != 1 || r.LastError == nil || !r.NextAttemptAt.Equal(f.clock.Now().Add(DefaultFirstRetry)) {
		t.Fatalf("row after a refused connection: %+v", r)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := newSMTPServer(t, smtpOpts{listener: ln2})
	// A temporary refusal (451) is retried too.
	srv.reject = func(n int) error {
		if n == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}
	f.run(m) // not due yet
	if len(srv.messages()) != 0 {
		t.Fatal("sent before due")
	}
	f.clock.Add(DefaultFirstRetry)
	if st := f.run(m); st.Retrying != 1 {
		t.Fatalf("after 451: %+v", st)
	}
	f.clock.Add(2 * DefaultFirstRetry)
	if st := f.run(m); st.Sent != 1 {
		t.Fatalf("stats %+v", st)
	}
	f.clock.Add(time.Hour)
	f.run(m)
	if len(srv.messages()) != 1 || f.row(evt).Status != StatusSent || f.row(evt).Attempts != 3 {
		t.Fatalf("%d messages, row %+v", len(srv.messages()), f.row(evt))
	}
}

func TestPermanentRefusalAndBadDataFail(t *testing.T) {
	f := newFixture(t)
	srv := newSMTPServer(t, smtpOpts{})
	srv.reject = func(int) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	ada := f.customer("Ada", "ada@example.com", "en")
	refused := f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "declined", ""))
	noRecipient := f.emit(outbox.EmailPaymentFailed, "", paymentFailed("", "declined", ""))
	noIBAN := f.emit(outbox.EmailBankTransferInstructions, ada, bankTransfer(ada))
	m := f.smtpMailer(srv)
	m.Bank = BankInstructions{} // no PAYORCH_BANK_IBAN
	if st := f.run(m); st.Failed != 3 {
		t.Fatalf("stats %+v", st)
	}
	for id, part := range map[string]string{refused: "550", noRecipient: "no recipient", noIBAN: "PAYORCH_BANK_IBAN"} {
		if r := f.row(id); r.Status != StatusFailed || r.LastError == nil || !strings.Contains(*r.LastError, part) {
			t.Fatalf("row %+v, want failed with %q", r, part)
		}
	}
}

func TestCrashedSenderIsTakenOverAfterLease(t *testing.T) {
	f := newFixture(t)
	srv := newSMTPServer(t, smtpOpts{})
	ada := f.customer("Ada", "ada@example.com", "en")
	evt := f.emit(outbox.EmailLoadReceipt, ada, receipt(ada))
	now := f.clock.Now()
	claimed, err := store.New(f.pool).ClaimDueMailMessages(context.Background(), store.ClaimDueMailMessagesParams{
		Now: now, LockedUntil: now.Add(DefaultLease), BatchSize: 10,
	})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %d", err, len(claimed))
	}
	// The claiming process died. Another one must wait for the lease, then send once.
	m := f.smtpMailer(srv)
	f.run(m)
	if len(srv.messages()) != 0 {
		t.Fatal("sent while another sender held the lease")
	}
	f.clock.Add(DefaultLease)
	f.run(m)
	f.run(m)
	if len(srv.messages()) != 1 || f.row(evt).Status != StatusSent {
		t.Fatalf("%d messages, row %+v", len(srv.messages()), f.row(evt))
	}
}

func TestSTARTTLSAndAuthWhenOffered(t *testing.T) {
	f := newFixture(t)
	serverTLS, roots := selfSigned(t)
	srv := newSMTPServer(t, smtpOpts{tls: serverTLS, user: "mailer", pass: "s3cret"})
	sender, err := NewSMTPSender("smtp://mailer:s3cret@" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	sender.TLSConfig = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	ada := f.customer("Ada", "ada@example.com", "en")
	f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "payment_method_invalid", ""))
	if st := f.run(f.mailer(sender)); st.Sent != 1 {
		t.Fatalf("stats %+v", st)
	}
	msgs := srv.messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].AuthUser != "mailer" {
		t.Fatalf("messages %+v: want one, over STARTTLS, authenticated", msgs)
	}

	// Wrong password: the server refuses; the message is retried later, not lost.
	bad, _ := NewSMTPSender("smtp://mailer:wrong@" + srv.Addr)
	bad.TLSConfig = sender.TLSConfig
	evt := f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "payment_method_invalid", ""))
	f.run(f.mailer(bad))
	if r := f.row(evt); r.Status != StatusPending || r.LastError == nil || !strings.Contains(*r.LastError, "AUTH") {
		t.Fatalf("after a refused login: %+v (%s), want pending for a retry", r, deref(r.LastError))
	}
	if len(srv.messages()) != 1 {
		t.Fatal("a message got through with a wrong password")
	}
}

func TestSMTPURL(t *testing.T) {
	s, err := NewSMTPSender("smtp://u:p%40ss@mail.example.com")
	if err != nil || s.Addr() != "mail.example.com:587" || s.user != "u" || s.pass != "p@ss" || s.implicit {
		t.Fatalf("%+v %v", s, err)
	}
	s, err = NewSMTPSender("smtps://mail.example.com:2465")
	if err != nil || s.Addr() != "mail.example.com:2465" || !s.implicit {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{"http://x", "smtp://", "smtp://h:99999", "smtp://h/path", "mail.example.com"} {
		if _, err := NewSMTPSender(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDevDefaultWritesOneEMLPerEvent(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "mail")
	zoe := f.customer("Zoé", "zoe@example.fr", "fr")
	evt := f.emit(outbox.EmailBankTransferInstructions, zoe, map[string]any{
		"invoice":   map[string]any{"id": "inv_7", "currency": "EUR", "total": "99.90", "amount_due": "99.90"},
		"customer":  map[string]any{"id": zoe, "name": "Zoé", "email": "zoe@example.fr", "language": "fr"},
		"reference": "REF-7",
	})
	m := f.mailer(DirSender{Dir: dir})
	if st := f.run(m); st.Sent != 1 {
		t.Fatalf("stats %+v", st)
	}
	path := filepath.Join(dir, evt+".eml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, raw)
	if p.Header.Get("To") == "" || !strings.Contains(p.Header.Get("To"), "zoe@example.fr") ||
		!contains(p.Text, "REF-7", "99,90 EUR", "virement") || !strings.HasPrefix(p.Subject, "Facture inv_7") {
		t.Fatalf("eml:\n%s", raw)
	}
	if abs, _ := filepath.Abs(path); *f.row(evt).Location != abs {
		t.Fatalf("location %q", *f.row(evt).Location)
	}
	// Written again (a crash before the row was marked sent): still one file.
	if _, err := f.pool.Exec(context.Background(), "UPDATE mail_messages SET status = 'pending', next_attempt_at = now() - interval '1 minute'"); err != nil {
		t.Fatal(err)
	}
	f.run(m)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != evt+".eml" {
		t.Fatalf("files %v", entries)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestFromConfig(t *testing.T) {
	f := newFixture(t)
	log := f.mailer(nil).Log
	dataDir := t.TempDir()
	m, err := FromConfig(f.pool, log, config.Config{DataDir: dataDir, MailFrom: "Acme <billing@acme.test>", PortalURL: "https://p.acme.test/",
		BankIBAN: "FR7630006000011234567890189", BankBIC: "AGRIFRPP", BankAccountHolder: "Acme SAS"})
	if err != nil {
		t.Fatal(err)
	}
	if ds, ok := m.Sender.(DirSender); !ok || ds.Dir != filepath.Join(dataDir, "mail") || m.PortalURL != "https://p.acme.test" || m.From.Name != "Acme" ||
		m.Bank != (BankInstructions{AccountHolder: "Acme SAS", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"}) {
		t.Fatalf("dev default: %+v", m)
	}
	m, err = FromConfig(f.pool, log, config.Config{SMTPURL: "smtps://u:p@mail.acme.test", MailFrom: "billing@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := m.Sender.(*SMTPSender); !ok || s.Addr() != "mail.acme.test:465" {
		t.Fatalf("smtp: %+v", m.Sender)
	}
	if _, err := FromConfig(f.pool, log, config.Config{MailFrom: "nope"}); err == nil || !strings.HasPrefix(err.Error(), "PAYORCH_MAIL_FROM") {
		t.Fatalf("bad from: %v", err)
	}
}

func TestRunLoopSendsAndStops(t *testing.T) {
	f := newFixture(t)
	srv := newSMTPServer(t, smtpOpts{})
	m := f.smtpMailer(srv)
	m.Now = time.Now
	ada := f.customer("Ada", "ada@example.com", "en")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, 20*time.Millisecond); close(done) }()
	f.emit(outbox.EmailPaymentFailed, ada, paymentFailed(ada, "payment_method_expired", ""))
	poll.Until(t, 10*time.Second, "the Run loop to send the message", func() (bool, string) { return len(srv.messages()) > 0, "" })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	if n := len(srv.messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

// slowSender is a Sender that records what it is asked to send and calls during (if set)
// while "sending" its n-th message.
type slowSender struct {
	mu     sync.Mutex
	sent   []string
	during func(n int)
}

func (s *slowSender) Send(_ context.Context, _ *gomail.Msg, eventID string) (string, error) {
	s.mu.Lock()
	s.sent = append(s.sent, eventID)
	n := len(s.sent)
	during := s.during
	s.mu.Unlock()
	if during != nil {
		during(n)
	}
	return "test:" + eventID, nil
}

// TestBatchOutlivingItsLeaseSendsEachOnce: a mailer whose batch takes longer than its lease
// (a slow SMTP server) loses the rest of the batch to another mailer, which sends it; the
// first must then skip what it lost rather than send it again.
func TestBatchOutlivingItsLeaseSendsEachOnce(t *testing.T) {
	f := newFixture(t)
	var events []string
	for i := range 6 {
		c := f.customer(fmt.Sprint("Cust", i), fmt.Sprintf("c%d@example.com", i), "en")
		events = append(events, f.emit(outbox.EmailLoadReceipt, c, receipt(c)))
	}
	s := &slowSender{}
	first, other := f.mailer(s), f.mailer(s)
	s.during = func(n int) {
		switch n {
		case 1: // the server is slow: half the lease goes by
			f.clock.Add(DefaultLease / 2)
		case 2:
			// The batch's lease runs out (the message being sent was held afresh when its
			// sending began); another mailer takes over what the first has not sent.
			f.clock.Add(DefaultLease/2 + time.Second)
			if _, err := other.RunOnce(context.Background()); err != nil {
				t.Errorf("second mailer: %v", err)
			}
		}
	}
	f.run(first)
	got := append([]string(nil), s.sent...)
	sort.Strings(got)
	want := append([]string(nil), events...)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("sent %v, want each of %v once", got, want)
	}
	for _, e := range events {
		if r := f.row(e); r.Status != StatusSent {
			t.Fatalf("%s: %+v", e, r)
		}
	}
}

// TestPaymentFailedKindFollowsPolicy: the mailer sends what the one policy (package
// declines) says, for each of the eleven types: an email iff Emailed, the neutral one iff
// RevealsNothing, a reason for every type the customer can fix.
func TestPaymentFailedKindFollowsPolicy(t *testing.T) {
	for _, typ := range declines.All {
		pol := declines.Of(typ)
		kind, reason := PaymentFailedKind(string(typ), "", false)
		switch {
		case !pol.Emailed:
			if kind != "" {
				t.Errorf("%s: the policy sends no email, the mailer sends %q", typ, kind)
			}
		case pol.RevealsNothing:
			if kind != KindPaymentFailedNeutral || reason != "" {
				t.Errorf("%s: the policy's email reveals nothing, the mailer sends %q (%q)", typ, kind, reason)
			}
		case pol.CustomerCanFix:
			if kind != KindPaymentFailed || fixReasons[typ] == "" || reason != fixReasons[typ] {
				t.Errorf("%s: the customer can fix it, the mailer sends %q (%q)", typ, kind, reason)
			}
		}
	}
}
