package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/customers"
	"payorch/internal/testenv"
	"payorch/outbox"
	"payorch/store"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{}) }

// got is one message the SMTP server accepted.
type got struct {
	From     string
	To       []string
	Raw      []byte
	TLS      bool
	AuthUser string
}

// smtpServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1.
type smtpServer struct {
	srv  *smtp.Server
	Addr string
	mu   sync.Mutex
	msgs []got
	// reject, when set, answers DATA with its error.
	reject func(n int) error
	datas  int
	// user and pass, when set, are required (AUTH PLAIN).
	user, pass string
}

type smtpOpts struct {
	tls        *tls.Config
	user, pass string
	listener   net.Listener
}

func newSMTPServer(t *testing.T, o smtpOpts) *smtpServer {
	t.Helper()
	s := &smtpServer{user: o.user, pass: o.pass}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, tls: isTLS, conn: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.TLSConfig = o.tls
	ln := o.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	s.Addr = ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *smtpServer) URL() string { return "smtp://" + s.Addr }

func (s *smtpServer) messages() []got {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]got(nil), s.msgs...)
}

type session struct {
	s    *smtpServer
	conn *smtp.Conn
	tls  bool
	user string
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string {
	if x.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != x.s.user || pass != x.s.pass {
			return errors.New("invalid credentials")
		}
		x.user = user
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.user != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.datas++
	if x.s.reject != nil {
		if err := x.s.reject(x.s.datas); err != nil {
			return err
		}
	}
	_, isTLS := x.conn.TLSConnectionState()
	x.s.msgs = append(x.s.msgs, got{From: x.from, To: x.to, Raw: raw, TLS: isTLS || x.tls, AuthUser: x.user})
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// parsed is a received message split into what the tests look at.
type parsed struct {
	Header  netmail.Header
	Subject string
	Text    string
	HTML    string
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, raw)
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{Header: m.Header, Subject: subj}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(part)
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		}
	}
	if p.Text == "" || p.HTML == "" {
		t.Fatalf("message lacks a text or an HTML part:\n%s", raw)
	}
	return p
}

// fixture is a fresh database and a mailer on a test clock.
type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	clock *testenv.Clock
}

func newFixture(t *testing.T) *fixture {
	pool, _ := env.Postgres.NewPool(t)
	// The clock starts a minute ahead: rows the database stamps with now() are due at once.
	return &fixture{t: t, pool: pool, clock: testenv.NewClock(time.Now().UTC().Add(time.Minute).Truncate(time.Microsecond))}
}

func (f *fixture) mailer(sender Sender) *Mailer {
	f.t.Helper()
	m, err := New(f.pool, slog.New(slog.NewTextHandler(io.Discard, nil)), sender, "Acme Billing <billing@acme.test>", "https://portal.acme.test/")
	if err != nil {
		f.t.Fatal(err)
	}
	m.Now = f.clock.Now
	m.Bank = BankInstructions{AccountHolder: "Acme SAS", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"}
	return m
}

func (f *fixture) smtpMailer(s *smtpServer) *Mailer {
	f.t.Helper()
	sender, err := NewSMTPSender(s.URL())
	if err != nil {
		f.t.Fatal(err)
	}
	sender.Timeout = 5 * time.Second
	return f.mailer(sender)
}

func (f *fixture) run(m *Mailer) Stats {
	f.t.Helper()
	st, err := m.RunOnce(context.Background())
	if err != nil {
		f.t.Fatalf("RunOnce: %v", err)
	}
	return st
}

func (f *fixture) customer(name, email, lang string) string {
	f.t.Helper()
	c, err := customers.NewService(f.pool).Create(context.Background(), customers.CreateInput{
		Name: name, Email: email, Currency: "EUR", Language: &lang,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return c.ID
}

func (f *fixture) emit(typ, customerID string, data any) string {
	f.t.Helper()
	var id string
	err := store.InTx(context.Background(), f.pool, func(q *store.Queries, _ pgx.Tx) error {
		var err error
		id, err = outbox.Emit(context.Background(), q, outbox.Event{
			Type: typ, ResourceType: "invoice", ResourceID: "inv_x", CustomerID: customerID, Data: data,
		})
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) row(eventID string) store.MailMessage {
	f.t.Helper()
	r, err := store.New(f.pool).GetMailMessage(context.Background(), eventID)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// paymentFailed is an email.payment_failed event's data in the shape invoices writes it
// (invoices.PaymentFailedEmail): for fraud, no error type, decline code or transactions.
func paymentFailed(customerID, errorType, declineCode string) map[string]any {
	fraud := errorType == "fraud"
	txn := map[string]any{"id": "txn_1", "attempt": 1, "method": "card", "amount": "1234.50", "currency": "EUR", "status": "failed",
		"error_type": errorType, "decline_code": declineCode, "provider_message": "Your card was declined."}
	txns := []any{txn}
	if fraud {
		errorType = ""
		txn = map[string]any{"id": "txn_1", "attempt": 1, "method": "card", "amount": "1234.50", "currency": "EUR", "status": "failed",
			"error_type": nil, "decline_code": nil, "provider_message": nil}
		txns = []any{}
	}
	return map[string]any{
		"invoice": map[string]any{"id": "inv_123", "number": "INV-2026-000123", "object": "invoice", "customer_id": customerID, "currency": "EUR", "status": "to_pay",
			"total": "1234.50", "amount_paid": "0.00", "amount_due": "1234.50", "transactions": txns},
		"transaction":      txn,
		"customer":         map[string]any{"id": customerID},
		"error_type":       errorType,
		"customer_can_fix": errorType != "" && errorType != "processing_error",
		"fraud":            fraud,
	}
}

// bankTransfer is an email.bank_transfer_instructions event's data as invoices writes it.
func bankTransfer(customerID string) map[string]any {
	return map[string]any{
		"invoice":   map[string]any{"id": "inv_9", "currency": "EUR", "total": "80.00", "amount_due": "80.00", "status": "to_pay"},
		"customer":  map[string]any{"id": customerID},
		"reference": "inv_9",
	}
}

// receipt is an email.load_receipt event's data as the ledger writes it (ledger.Receipt).
func receipt(customerID string) map[string]any {
	return map[string]any{"id": "rcp_1", "number": "RCP-000042", "customer_id": customerID, "wallet_id": "wal_1",
		"load_id": "lod_1", "invoice_id": "inv_2", "wallet_transaction_id": "wtx_1", "amount": "50.00",
		"currency": "EUR", "payment_method": "card", "issued_at": "2026-03-05T10:00:00Z"}
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, roots
}

func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
