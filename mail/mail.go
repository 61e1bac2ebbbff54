// Package mail sends customer email driven by the outbox's internal email.* events: a
// failed payment the customer can fix (with their portal link), a neutral note for fraud,
// bank-transfer instructions, and the receipt of a paid wallet load. Subjects and bodies
// (text and HTML) come from templates in templates/, in the customer's language (en, fr;
// English otherwise). Messages go over SMTP (PAYORCH_SMTP_URL) or, in development, to .eml
// files. Each event has one mail_messages row, created with the event: its id is the
// idempotency key and the Message-ID, so a customer gets one email per event.
package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	gomail "github.com/wneessen/go-mail"

	"payorch/apperr"
	"payorch/declines"
	"payorch/outbox"
	"payorch/store"
)

// Mailer policy defaults.
const (
	// DefaultLease is how long a sender holds a claimed message before another may take it.
	DefaultLease = 2 * time.Minute
	// DefaultFirstRetry is the delay after a failed send; it doubles up to DefaultMaxRetryDelay.
	DefaultFirstRetry = time.Minute
	// DefaultMaxRetryDelay caps the delay between two sends.
	DefaultMaxRetryDelay = time.Hour
	// DefaultRetryWindow is how long a message is retried before it is marked failed.
	DefaultRetryWindow = 24 * time.Hour
)

// Message statuses (mail_messages.status).
const (
	StatusPending = "pending"
	StatusSent    = "sent"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

const maxRounds = 1000

// Mailer turns due email.* events into messages and hands them to its Sender. Any number
// of processes may run it: rows are claimed with FOR UPDATE SKIP LOCKED and a lease.
type Mailer struct {
	Pool   *pgxpool.Pool
	Log    *slog.Logger
	Sender Sender
	// From is the sender address (PAYORCH_MAIL_FROM); its display name signs the emails
	// and its domain ends every Message-ID.
	From *netmail.Address
	// PortalURL is the customer portal's base URL (PAYORCH_PORTAL_URL); a customer's page
	// is PortalURL/<customer id>.
	PortalURL string
	// Bank is the account customers pay bank transfers to (PAYORCH_BANK_*), used when the
	// event does not name one. Without an IBAN, bank transfer emails fail (logged): payorch
	// never invents payment details.
	Bank BankInstructions
	// PortalLink mints a signed, expiring portal link for a customer when an email is
	// composed (portal.Sessions.Link); nil links to PortalURL/<customer id>.
	PortalLink func(ctx context.Context, customerID string) (string, error)
	// ReceiptPDF renders the receipt attached to a load-receipt email (its file name and
	// bytes); nil sends the email without it. A receipt it cannot find (apperr not_found)
	// is logged and the email goes without it; any other error retries the email later.
	ReceiptPDF func(ctx context.Context, receiptID string) (name string, content []byte, err error)
	// Now is the clock (time.Now in production).
	Now           func() time.Time
	Lease         time.Duration
	FirstRetry    time.Duration
	MaxRetryDelay time.Duration
	RetryWindow   time.Duration
	BatchSize     int32
}

// New returns a Mailer with the default policy. from is an address such as
// "Acme Billing <billing@acme.test>".
func New(pool *pgxpool.Pool, log *slog.Logger, sender Sender, from, portalURL string) (*Mailer, error) {
	addr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: from address %q: %w", from, err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Mailer{
		Pool: pool, Log: log, Sender: sender, From: addr, PortalURL: strings.TrimRight(portalURL, "/"),
		Now: time.Now, Lease: DefaultLease, FirstRetry: DefaultFirstRetry, MaxRetryDelay: DefaultMaxRetryDelay,
		RetryWindow: DefaultRetryWindow, BatchSize: 50,
	}, nil
}

// Stats counts what one RunOnce did.
type Stats struct {
	Sent, Skipped, Retrying, Failed int
}

// Run calls RunOnce every interval until ctx is done.
func (m *Mailer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := m.RunOnce(ctx); err != nil && ctx.Err() == nil {
			m.Log.Error("mailer", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce sends every message due now.
func (m *Mailer) RunOnce(ctx context.Context) (Stats, error) {
	var st Stats
	for range maxRounds {
		now := m.Now()
		claimed, err := store.New(m.Pool).ClaimDueMailMessages(ctx, store.ClaimDueMailMessagesParams{
			Now: now, LockedUntil: now.Add(m.Lease), BatchSize: m.BatchSize,
		})
		if err != nil {
			return st, fmt.Errorf("claim mail messages: %w", err)
		}
		if len(claimed) == 0 {
			return st, nil
		}
		for _, c := range claimed {
			if err := m.process(ctx, c, &st); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// composed is a message ready to send and what to record about it.
type composed struct {
	msg       *gomail.Msg
	recipient string
	language  string
	subject   string
	messageID string
}

func (m *Mailer) process(ctx context.Context, c store.ClaimDueMailMessagesRow, st *Stats) error {
	q := store.New(m.Pool)
	at := m.Now()
	out, skip, err := m.compose(ctx, c)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	var transient *transientError
	switch {
	case errors.As(err, &transient):
		// The database did not answer: try again later, like a temporary SMTP failure.
		return m.retryLater(ctx, q, c, err, st)
	case err != nil:
		// Data the email cannot be built from: retrying will not help.
		st.Failed++
		m.Log.Error("email not sendable", "event_id", c.EventID, "type", c.EventType, "error", err)
		_, err = q.MarkMailFailed(ctx, store.MarkMailFailedParams{EventID: c.EventID, Attempts: c.Attempts, LastError: err.Error(), At: at})
		return err
	case skip != "":
		st.Skipped++
		m.Log.Info("email skipped", "event_id", c.EventID, "type", c.EventType, "reason", skip)
		_, err = q.MarkMailSkipped(ctx, store.MarkMailSkippedParams{EventID: c.EventID, Attempts: c.Attempts, Reason: skip, At: at})
		return err
	}
	// A batch can take longer than its lease (a slow SMTP server): hold this message for a
	// fresh lease right before sending, or skip it if another sender has claimed it
	// meanwhile, so it is not sent twice.
	if n, err := q.RenewMailLease(ctx, store.RenewMailLeaseParams{EventID: c.EventID, Attempts: c.Attempts, LockedUntil: m.Now().Add(m.Lease)}); err != nil || n == 0 {
		if err != nil {
			return fmt.Errorf("renew lease of %s: %w", c.EventID, err)
		}
		m.Log.Warn("email not sent: its claim was lost before sending", "event_id", c.EventID, "attempt", c.Attempts)
		return nil
	}
	loc, sendErr := m.Sender.Send(ctx, out.msg, c.EventID)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the lease expires and the message is taken again
	}
	at = m.Now()
	if sendErr == nil {
		st.Sent++
		m.Log.Info("email sent", "event_id", c.EventID, "type", c.EventType, "to", out.recipient,
			"language", out.language, "location", loc)
		n, err := q.MarkMailSent(ctx, store.MarkMailSentParams{
			EventID: c.EventID, Attempts: c.Attempts, MessageID: out.messageID, Recipient: out.recipient,
			Language: out.language, Subject: out.subject, Location: loc, At: at,
		})
		if err == nil && n == 0 {
			m.Log.Warn("email sent after its lease expired; another sender may send it too (same Message-ID)", "event_id", c.EventID)
		}
		return err
	}
	var perm *PermanentError
	if errors.As(sendErr, &perm) {
		st.Failed++
		m.Log.Error("email failed", "event_id", c.EventID, "type", c.EventType, "attempts", c.Attempts, "error", sendErr)
		_, err = q.MarkMailFailed(ctx, store.MarkMailFailedParams{EventID: c.EventID, Attempts: c.Attempts, LastError: sendErr.Error(), At: at})
		return err
	}
	return m.retryLater(ctx, q, c, sendErr, st)
}

// retryLater schedules the message's next attempt after a temporary failure, or fails it
// once the retry window is over.
func (m *Mailer) retryLater(ctx context.Context, q *store.Queries, c store.ClaimDueMailMessagesRow, cause error, st *Stats) error {
	at := m.Now()
	next := at.Add(m.backoff(c.Attempts))
	if next.After(c.CreatedAt.Add(m.RetryWindow)) {
		st.Failed++
		m.Log.Error("email failed", "event_id", c.EventID, "type", c.EventType, "attempts", c.Attempts, "error", cause)
		_, err := q.MarkMailFailed(ctx, store.MarkMailFailedParams{EventID: c.EventID, Attempts: c.Attempts, LastError: cause.Error(), At: at})
		return err
	}
	st.Retrying++
	m.Log.Warn("email not sent, will retry", "event_id", c.EventID, "attempt", c.Attempts, "next_attempt_at", next, "error", cause)
	_, err := q.MarkMailRetry(ctx, store.MarkMailRetryParams{EventID: c.EventID, Attempts: c.Attempts, LastError: cause.Error(), NextAttemptAt: next, At: at})
	return err
}

// transientError is a failure to build a message that a later attempt may not meet (the
// database did not answer).
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func (m *Mailer) backoff(n int32) time.Duration {
	d := m.FirstRetry
	for i := int32(1); i < n && d < m.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, m.MaxRetryDelay)
}

// fixReasons is the wording of the "fix your payment method" email per error type (which
// template paragraph it shows). Whether a type is emailed at all, and whether the email
// reveals nothing, is the policy's (declines.Of); a test checks every type the policy
// lets the customer fix has its wording here.
var fixReasons = map[declines.Type]string{
	declines.PaymentMethodExpired:      "expired",
	declines.PaymentMethodDeclined:     "declined",
	declines.Declined:                  "declined",
	declines.AuthenticationRequired:    "authentication",
	declines.PaymentMethodInvalid:      "invalid",
	declines.PaymentMethodNotSupported: "not_supported",
}

// PaymentFailedKind says which email a failure gets, as the policy (package declines)
// decides: KindPaymentFailedNeutral when the email must reveal nothing (fraud, or the
// event says so), KindPaymentFailed with a reason when the customer can fix it, "" (no
// email) when the customer is not emailed.
func PaymentFailedKind(errorType, declineCode string, fraud bool) (kind, reason string) {
	pol := declines.Of(declines.Type(errorType))
	if fraud || (pol.Type == declines.Type(errorType) && pol.RevealsNothing) {
		return KindPaymentFailedNeutral, ""
	}
	if pol.Type != declines.Type(errorType) || !pol.Emailed || !pol.CustomerCanFix {
		return "", ""
	}
	reason = fixReasons[pol.Type]
	if reason == "" {
		reason = "declined"
	}
	if reason == "declined" && declineCode == "insufficient_funds" {
		reason = "insufficient_funds"
	}
	return KindPaymentFailed, reason
}

// compose builds the message of an event, or says why there is none.
func (m *Mailer) compose(ctx context.Context, c store.ClaimDueMailMessagesRow) (composed, string, error) {
	var (
		cust     Customer
		portal   string
		kind     string
		view     func(Base) any
		dataErr  error
		eventCus string
		// receiptID names the receipt to attach (load-receipt emails).
		receiptID string
		// portalLink is the customer's portal link, minted once the customer is known.
		portalLink string
	)
	if c.CustomerID != nil {
		eventCus = *c.CustomerID
	}
	switch c.EventType {
	case outbox.EmailPaymentFailed:
		var d PaymentFailedData
		dataErr = json.Unmarshal(c.EventData, &d)
		cust, portal = d.Customer, d.PortalURL
		decline := ""
		if d.Transaction != nil && d.Transaction.DeclineCode != nil {
			decline = *d.Transaction.DeclineCode
		}
		var reason string
		kind, reason = PaymentFailedKind(d.ErrorType, decline, d.Fraud)
		if dataErr == nil && kind == "" {
			return composed{}, fmt.Sprintf("error_type %q is not one the customer can fix", d.ErrorType), nil
		}
		if dataErr == nil && d.Invoice.ID == "" {
			dataErr = errors.New("invoice.id is missing")
		}
		if dataErr == nil {
			// One email per cause: the customer already told about this failure (a
			// manual retry that failed the same way) is not emailed again.
			raw, err := store.New(m.Pool).LastSentPaymentFailedEmail(ctx, d.Invoice.ID)
			switch {
			case err == nil:
				var last PaymentFailedData
				if json.Unmarshal(raw, &last) == nil && SameCause(last, d) {
					return composed{}, "the customer was already emailed about this failure of invoice " + d.Invoice.ID + " (same error, same payment method)", nil
				}
			case !store.IsNoRows(err):
				return composed{}, "", fmt.Errorf("last payment-failed email: %w", err)
			}
		}
		view = func(b Base) any {
			amount := FormatAmount(d.Invoice.AmountDue, d.Invoice.Currency, b.Lang)
			if kind == KindPaymentFailedNeutral {
				return NeutralView{Base: b, InvoiceID: d.Invoice.Label(), Amount: amount}
			}
			return PaymentFailedView{Base: b, InvoiceID: d.Invoice.Label(), Amount: amount, Reason: reason,
				PortalURL: portalLink}
		}
	case outbox.EmailBankTransferInstructions:
		var d BankTransferData
		dataErr = json.Unmarshal(c.EventData, &d)
		cust, portal, kind = d.Customer, d.PortalURL, KindBankTransfer
		ins := m.Bank
		if d.Instructions != nil && (d.Instructions.IBAN != "" || d.Instructions.AccountNumber != "") {
			ins = *d.Instructions
		}
		switch {
		case d.Reference != "":
			ins.Reference = d.Reference
		case d.Instructions != nil && d.Instructions.Reference != "":
			ins.Reference = d.Instructions.Reference
		default:
			ins.Reference = d.Invoice.ID
		}
		if dataErr == nil && d.Invoice.ID == "" {
			dataErr = errors.New("invoice.id is missing")
		}
		if dataErr == nil && ins.IBAN == "" && ins.AccountNumber == "" {
			dataErr = errors.New("no account to pay to: set PAYORCH_BANK_IBAN (and PAYORCH_BANK_ACCOUNT_HOLDER, PAYORCH_BANK_BIC)")
		}
		view = func(b Base) any {
			return BankTransferView{Base: b, InvoiceID: d.Invoice.Label(), Instructions: ins,
				Amount: FormatAmount(d.Invoice.AmountDue, d.Invoice.Currency, b.Lang), PortalURL: portalLink}
		}
	case outbox.EmailLoadReceipt:
		var d LoadReceiptData
		dataErr = json.Unmarshal(c.EventData, &d)
		portal, kind = d.PortalURL, KindLoadReceipt
		if d.Customer != nil {
			cust = *d.Customer
		}
		if dataErr == nil && (d.ID == "" || d.Amount == "") {
			dataErr = errors.New("the receipt's id and amount are required")
		}
		receiptID = d.ID
		view = func(b Base) any {
			number := d.Number
			if number == "" {
				number = d.ID
			}
			issued := d.IssuedAt
			if issued.IsZero() {
				issued = c.EventCreatedAt
			}
			return LoadReceiptView{Base: b, ReceiptID: number, Amount: FormatAmount(d.Amount, d.Currency, b.Lang),
				PaidAt: FormatDate(issued, b.Lang), PortalURL: portalLink}
		}
	case outbox.EmailAutoTopUpDisabled:
		var d AutoTopUpDisabledData
		dataErr = json.Unmarshal(c.EventData, &d)
		portal, kind = d.PortalURL, KindAutoTopUpDisabled
		if dataErr == nil && (d.WalletID == "" || d.Amount == "") {
			dataErr = errors.New("the wallet id and amount are required")
		}
		view = func(b Base) any {
			return AutoTopUpDisabledView{Base: b, Amount: FormatAmount(d.Amount, d.Currency, b.Lang),
				Failures: d.Failures, PortalURL: portalLink}
		}
	default:
		return composed{}, fmt.Sprintf("no email for event type %q", c.EventType), nil
	}
	if dataErr != nil {
		return composed{}, "", fmt.Errorf("%s data: %w", c.EventType, dataErr)
	}
	cust, err := m.resolveCustomer(ctx, cust, eventCus)
	if err != nil {
		return composed{}, "", err
	}
	if kind != KindPaymentFailedNeutral {
		if portalLink, err = m.portalLink(ctx, portal, cust.ID, eventCus); err != nil {
			return composed{}, "", err
		}
	}
	lang := Language(cust.Language)
	r, err := Render(kind, lang, view(Base{Lang: lang, Name: cust.Name, Sender: m.From.Name}))
	if err != nil {
		return composed{}, "", err
	}
	out, skip, err := m.build(c, cust, r)
	if err != nil || skip != "" || receiptID == "" || m.ReceiptPDF == nil {
		return out, skip, err
	}
	name, content, err := m.ReceiptPDF(ctx, receiptID)
	if e, ok := apperr.As(err); ok && e.Kind == apperr.NotFound {
		m.Log.WarnContext(ctx, "load receipt email sent without its PDF: no such receipt", "receipt_id", receiptID, "event_id", c.EventID)
		return out, "", nil
	}
	if err != nil {
		return composed{}, "", &transientError{fmt.Errorf("render receipt %s: %w", receiptID, err)}
	}
	if err := out.msg.AttachReader(name, bytes.NewReader(content), gomail.WithFileContentType("application/pdf")); err != nil {
		return composed{}, "", fmt.Errorf("attach receipt %s: %w", receiptID, err)
	}
	return out, "", nil
}

// resolveCustomer completes the event's customer from the customers table: the table's
// language wins, its name and email fill what the event lacks.
func (m *Mailer) resolveCustomer(ctx context.Context, cust Customer, eventCustomerID string) (Customer, error) {
	id := cust.ID
	if id == "" {
		id = eventCustomerID
	}
	if id != "" {
		row, err := store.New(m.Pool).GetCustomerContact(ctx, id)
		switch {
		case store.IsNoRows(err):
		case err != nil:
			return cust, &transientError{fmt.Errorf("read customer %s: %w", id, err)}
		default:
			cust.ID = row.ID
			if cust.Email == "" {
				cust.Email = row.Email
			}
			if cust.Name == "" {
				cust.Name = row.Name
			}
			cust.Language = row.Language
		}
	}
	if cust.Email == "" {
		return cust, errors.New("no recipient: the event has no customer email and no known customer")
	}
	return cust, nil
}

// portalLink is the event's portal link, else a signed link minted now for the customer
// (PortalLink), else PortalURL/<customer id> (no PortalLink configured).
func (m *Mailer) portalLink(ctx context.Context, fromEvent, customerID, eventCustomerID string) (string, error) {
	if fromEvent != "" || m.PortalLink == nil {
		return m.portalURL(fromEvent, customerID, eventCustomerID), nil
	}
	if customerID == "" {
		customerID = eventCustomerID
	}
	link, err := m.PortalLink(ctx, customerID)
	if err != nil {
		return "", &transientError{fmt.Errorf("mint portal link for %s: %w", customerID, err)}
	}
	return link, nil
}

func (m *Mailer) portalURL(fromEvent, customerID, eventCustomerID string) string {
	if fromEvent != "" {
		return fromEvent
	}
	if customerID == "" {
		customerID = eventCustomerID
	}
	if m.PortalURL == "" || customerID == "" {
		return m.PortalURL
	}
	return m.PortalURL + "/" + customerID
}

// MessageID is the Message-ID (without angle brackets) of an event's email: the same for
// every send of that event, so a duplicate after a crash is recognisable as one.
func (m *Mailer) MessageID(eventID string) string {
	domain := "payorch.invalid"
	if _, d, ok := strings.Cut(m.From.Address, "@"); ok && d != "" {
		domain = d
	}
	return eventID + "@" + domain
}

func (m *Mailer) build(c store.ClaimDueMailMessagesRow, cust Customer, r Rendered) (composed, string, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(m.From)
	to := &netmail.Address{Name: cust.Name, Address: cust.Email}
	if _, err := netmail.ParseAddress(to.String()); err != nil {
		return composed{}, "", fmt.Errorf("recipient %q: %w", cust.Email, err)
	}
	msg.ToMailAddress(to)
	msg.Subject(r.Subject)
	id := m.MessageID(c.EventID)
	msg.SetMessageIDWithValue(id)
	msg.SetDateWithValue(m.Now())
	msg.SetUserAgent("payorch")
	msg.SetGenHeader(gomail.HeaderContentLang, r.Language)
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader("X-Payorch-Event-Id", c.EventID)
	msg.SetBodyString(gomail.TypeTextPlain, r.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
	return composed{msg: msg, recipient: cust.Email, language: r.Language, subject: r.Subject, messageID: "<" + id + ">"}, "", nil
}
