package mail

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/config"
	"payorch/documents/pdf"
	"payorch/portal"
)

// FromConfig returns the Mailer of a worker process: SMTP when PAYORCH_SMTP_URL is set,
// otherwise the development default that writes .eml files under PAYORCH_DATA_DIR/mail.
func FromConfig(pool *pgxpool.Pool, log *slog.Logger, cfg config.Config) (*Mailer, error) {
	if log == nil {
		log = slog.Default()
	}
	var sender Sender
	if cfg.SMTPURL != "" {
		s, err := NewSMTPSender(cfg.SMTPURL)
		if err != nil {
			return nil, fmt.Errorf("PAYORCH_SMTP_URL: %w", err)
		}
		sender = s
		log.Info("customer email over SMTP", "server", s.Addr(), "from", cfg.MailFrom)
	} else {
		dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "mail"))
		if err != nil {
			return nil, fmt.Errorf("PAYORCH_DATA_DIR: %w", err)
		}
		sender = DirSender{Dir: dir}
		log.Info("customer email written as .eml files (set PAYORCH_SMTP_URL to send)", "dir", dir)
	}
	m, err := New(pool, log, sender, cfg.MailFrom, cfg.PortalURL)
	if err != nil {
		return nil, fmt.Errorf("PAYORCH_MAIL_FROM: %w", err)
	}
	m.Bank = BankInstructions{AccountHolder: cfg.BankAccountHolder, IBAN: cfg.BankIBAN, BIC: cfg.BankBIC}
	m.ReceiptPDF = ReceiptPDF(pdf.New(pool, pdf.Merchant(cfg.Merchant)))
	ps := cfg.PortalSessions
	m.PortalLink = portal.NewSessions(pool, ps.Secret, cfg.PortalURL, ps.TTL, ps.EmailTTL).Link
	if m.Bank.IBAN == "" {
		log.Warn("PAYORCH_BANK_IBAN is not set: bank transfer instruction emails will fail until it is")
	}
	return m, nil
}

// ReceiptPDF adapts the document renderer to Mailer.ReceiptPDF.
func ReceiptPDF(docs *pdf.Service) func(ctx context.Context, receiptID string) (string, []byte, error) {
	return func(ctx context.Context, receiptID string) (string, []byte, error) {
		f, err := docs.Receipt(ctx, receiptID, nil)
		return f.Name, f.Bytes, err
	}
}
