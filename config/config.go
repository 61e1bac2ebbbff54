// Package config reads payorch's configuration from PAYORCH_* environment variables, with
// defaults for local development. A bad value is an error naming the variable.
package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/dunning"
	"payorch/store"
)

// Role is what an API key may do.
type Role string

const (
	// RoleBackend is the merchant's billing backend: everything.
	RoleBackend Role = "backend"
	// RoleSupport is a support tool: read, manual retry, reconcile, reactivate, cancel, revert.
	RoleSupport Role = "support"
)

// APIKey is one configured bearer key and its role.
type APIKey struct {
	Role Role
	// hash is the SHA-256 of the key, compared in constant time.
	hash [32]byte
}

// Config is the whole configuration of a payorch process.
type Config struct {
	// HTTPAddr is where the API listens (PAYORCH_HTTP_ADDR).
	HTTPAddr string
	// DatabaseURL is the PostgreSQL connection string (PAYORCH_DATABASE_URL).
	DatabaseURL string
	// DatabaseMaxConns is the size of each process's connection pool
	// (PAYORCH_DATABASE_MAX_CONNS).
	DatabaseMaxConns int32
	// DatabaseLockTimeout is how long a statement waits for a lock before it fails with a
	// retryable error (PAYORCH_DATABASE_LOCK_TIMEOUT).
	DatabaseLockTimeout time.Duration
	// DatabaseStatementTimeout bounds one statement (PAYORCH_DATABASE_STATEMENT_TIMEOUT).
	DatabaseStatementTimeout time.Duration
	// TemporalAddress is the Temporal frontend host:port (PAYORCH_TEMPORAL_ADDRESS).
	TemporalAddress string
	// TemporalNamespace is the Temporal namespace (PAYORCH_TEMPORAL_NAMESPACE).
	TemporalNamespace string
	// TaskQueue is the Temporal task queue of the worker (PAYORCH_TASK_QUEUE).
	TaskQueue string
	// APIKeys are the bearer keys accepted by the API (PAYORCH_API_KEYS).
	APIKeys []APIKey
	// RetrySchedule is the delay before each retry of a failed payment (PAYORCH_RETRY_SCHEDULE):
	// the dunning policy's default schedule.
	RetrySchedule []time.Duration
	// DunningByErrorType gives retried error types their own schedule
	// (PAYORCH_DUNNING_BY_ERROR_TYPE, e.g. "processing_error=15m,1h,6h;declined=1h,1d"); with
	// RetrySchedule it is the dunning policy in force until one is set through the API.
	DunningByErrorType map[string][]time.Duration
	// DunningMinDelay is the shortest delay of a schedule per error type, in
	// PAYORCH_DUNNING_BY_ERROR_TYPE and in PUT /v1/settings/dunning
	// (PAYORCH_DUNNING_MIN_DELAY, default dunning.MinDelay: 1m). Only development and
	// test setups lower it, to run dunning on a schedule of seconds.
	DunningMinDelay time.Duration
	// DataDir is where the dev stack keeps its state (PAYORCH_DATA_DIR).
	DataDir string
	// LogLevel is the minimum log level (PAYORCH_LOG_LEVEL: debug, info, warn, error).
	LogLevel slog.Level
	// LogFormat is json or text (PAYORCH_LOG_FORMAT).
	LogFormat string
	// StripeSecretKey selects Stripe as the payment provider when set (STRIPE_SECRET_KEY).
	StripeSecretKey string
	// StripeWebhookSecret verifies inbound Stripe webhooks (STRIPE_WEBHOOK_SECRET).
	StripeWebhookSecret string
	// StripePublishableKey is handed to Stripe.js on the customer portal, which saves
	// cards and runs 3-D Secure with Stripe directly (STRIPE_PUBLISHABLE_KEY, "pk_…").
	StripePublishableKey string
	// SimSEPADelay is how long the simulated provider keeps a SEPA direct debit pending
	// before it reports the outcome (PAYORCH_SIM_SEPA_DELAY).
	SimSEPADelay time.Duration
	// SMTPURL is where customer email goes (PAYORCH_SMTP_URL): smtp://[user:pass@]host[:port]
	// (STARTTLS when the server offers it) or smtps://…; empty: .eml files under DataDir/mail.
	SMTPURL string
	// MailFrom is the sender of customer email (PAYORCH_MAIL_FROM).
	MailFrom string
	// PortalURL is the customer portal's base URL; emails link to PortalURL/<customer id>
	// (PAYORCH_PORTAL_URL).
	PortalURL string
	// OutboxPollInterval is how often the worker looks for new outbox events and due webhook
	// and email retries (PAYORCH_OUTBOX_POLL_INTERVAL).
	OutboxPollInterval time.Duration
	// WebhookAllowPrivateNetworks lets webhooks go to loopback, private, link-local and other
	// non-public addresses (PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS; false by default, true
	// in make run). Off, an endpoint URL cannot reach the internal network or cloud metadata.
	WebhookAllowPrivateNetworks bool
	// BankAccountHolder, BankIBAN and BankBIC are the account customers pay bank transfers
	// to, printed in the payment-instructions email (PAYORCH_BANK_ACCOUNT_HOLDER,
	// PAYORCH_BANK_IBAN, PAYORCH_BANK_BIC).
	BankAccountHolder string
	BankIBAN          string
	BankBIC           string
	// PortalMaxLoad is the largest single wallet load from the customer portal, in the
	// wallet's currency units (PAYORCH_PORTAL_MAX_LOAD).
	PortalMaxLoad decimal.Decimal
	// PortalMaxBalance is the largest wallet balance a portal load may lead to
	// (PAYORCH_PORTAL_MAX_BALANCE).
	PortalMaxBalance decimal.Decimal
	// Worker holds the worker process's own settings (config/worker.go).
	Worker WorkerConfig
	// BankTransfers says who takes bank transfers (config/banktransfers.go).
	BankTransfers BankTransferConfig
	// Merchant is printed on documents (PAYORCH_MERCHANT_*; see config/documents.go).
	Merchant Merchant
	// PortalSessions signs and times portal tokens (PAYORCH_PORTAL_SECRET, _SESSION_TTL,
	// _EMAIL_LINK_TTL; see config/documents.go).
	PortalSessions PortalSessions
}

// Defaults used when a variable is not set.
const (
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultDatabaseURL       = "postgres://postgres@127.0.0.1:55432/payorch?sslmode=disable"
	DefaultTemporalAddress   = "127.0.0.1:7233"
	DefaultTemporalNamespace = "default"
	DefaultTaskQueue         = "payorch"
	DefaultRetrySchedule     = "2h,12h,24h"
	DefaultDataDir           = ".data"
	DefaultMailFrom          = "Billing <billing@payorch.localhost>"
	DefaultPortalURL         = "http://127.0.0.1:8080/portal"
	DefaultOutboxPoll        = "1s"
	DefaultPortalMaxLoad     = "100"
	DefaultPortalMaxBalance  = "500"
	DefaultSimSEPADelay      = "10s"
)

// Load reads the configuration from the process environment.
func Load() (Config, error) { return FromLookup(os.LookupEnv) }

// FromLookup reads the configuration through lookup (os.LookupEnv in production, a map in tests).
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	get := func(name, def string) string {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	c := Config{
		HTTPAddr:            get("PAYORCH_HTTP_ADDR", DefaultHTTPAddr),
		DatabaseURL:         get("PAYORCH_DATABASE_URL", DefaultDatabaseURL),
		TemporalAddress:     get("PAYORCH_TEMPORAL_ADDRESS", DefaultTemporalAddress),
		TemporalNamespace:   get("PAYORCH_TEMPORAL_NAMESPACE", DefaultTemporalNamespace),
		TaskQueue:           get("PAYORCH_TASK_QUEUE", DefaultTaskQueue),
		DataDir:             get("PAYORCH_DATA_DIR", DefaultDataDir),
		LogFormat:           get("PAYORCH_LOG_FORMAT", "json"),
		StripeSecretKey:     get("STRIPE_SECRET_KEY", ""),
		StripeWebhookSecret: get("STRIPE_WEBHOOK_SECRET", ""),
		SMTPURL:             get("PAYORCH_SMTP_URL", ""),
		MailFrom:            get("PAYORCH_MAIL_FROM", DefaultMailFrom),
		PortalURL:           get("PAYORCH_PORTAL_URL", DefaultPortalURL),
		BankAccountHolder:   get("PAYORCH_BANK_ACCOUNT_HOLDER", ""),
		BankIBAN:            strings.ToUpper(strings.ReplaceAll(get("PAYORCH_BANK_IBAN", ""), " ", "")),
		BankBIC:             strings.ToUpper(get("PAYORCH_BANK_BIC", "")),
	}
	if !strings.Contains(c.HTTPAddr, ":") {
		return Config{}, fmt.Errorf("PAYORCH_HTTP_ADDR: %q is not host:port", c.HTTPAddr)
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return Config{}, fmt.Errorf("PAYORCH_DATABASE_URL: must be a postgres:// URL")
	}
	if !strings.Contains(c.TemporalAddress, ":") {
		return Config{}, fmt.Errorf("PAYORCH_TEMPORAL_ADDRESS: %q is not host:port", c.TemporalAddress)
	}
	if err := c.readDatabase(get); err != nil {
		return Config{}, err
	}
	keys, err := ParseAPIKeys(get("PAYORCH_API_KEYS", ""))
	if err != nil {
		return Config{}, fmt.Errorf("PAYORCH_API_KEYS: %w", err)
	}
	c.APIKeys = keys
	sched, err := ParseRetrySchedule(get("PAYORCH_RETRY_SCHEDULE", DefaultRetrySchedule))
	if err != nil {
		return Config{}, fmt.Errorf("PAYORCH_RETRY_SCHEDULE: %w", err)
	}
	c.RetrySchedule = sched
	if c.DunningMinDelay, err = time.ParseDuration(get("PAYORCH_DUNNING_MIN_DELAY", dunning.FormatDelay(dunning.MinDelay))); err != nil || c.DunningMinDelay <= 0 {
		return Config{}, fmt.Errorf("PAYORCH_DUNNING_MIN_DELAY: a positive duration like 1m or 1s")
	}
	if c.DunningByErrorType, err = ParseDunningByErrorType(get("PAYORCH_DUNNING_BY_ERROR_TYPE", ""), sched, c.DunningMinDelay); err != nil {
		return Config{}, fmt.Errorf("PAYORCH_DUNNING_BY_ERROR_TYPE: %w", err)
	}
	switch strings.ToLower(get("PAYORCH_LOG_LEVEL", "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return Config{}, fmt.Errorf("PAYORCH_LOG_LEVEL: must be debug, info, warn or error")
	}
	c.StripePublishableKey = get("STRIPE_PUBLISHABLE_KEY", "")
	if c.PortalMaxLoad, err = parseLimit(get("PAYORCH_PORTAL_MAX_LOAD", DefaultPortalMaxLoad)); err != nil {
		return Config{}, fmt.Errorf("PAYORCH_PORTAL_MAX_LOAD: %w", err)
	}
	if c.PortalMaxBalance, err = parseLimit(get("PAYORCH_PORTAL_MAX_BALANCE", DefaultPortalMaxBalance)); err != nil {
		return Config{}, fmt.Errorf("PAYORCH_PORTAL_MAX_BALANCE: %w", err)
	}
	if c.PortalMaxBalance.LessThan(c.PortalMaxLoad) {
		return Config{}, fmt.Errorf("PAYORCH_PORTAL_MAX_BALANCE: %s is below PAYORCH_PORTAL_MAX_LOAD (%s)", c.PortalMaxBalance, c.PortalMaxLoad)
	}
	if c.SimSEPADelay, err = time.ParseDuration(get("PAYORCH_SIM_SEPA_DELAY", DefaultSimSEPADelay)); err != nil ||
		c.SimSEPADelay < time.Millisecond || c.SimSEPADelay > 30*24*time.Hour {
		return Config{}, fmt.Errorf("PAYORCH_SIM_SEPA_DELAY: %q must be a duration from 1ms to 720h, like 10s", get("PAYORCH_SIM_SEPA_DELAY", DefaultSimSEPADelay))
	}
	if err := c.checkEventsOut(get("PAYORCH_OUTBOX_POLL_INTERVAL", DefaultOutboxPoll)); err != nil {
		return Config{}, err
	}
	if err := c.loadWorker(get, lookup); err != nil {
		return Config{}, err
	}
	if err := c.loadBankTransfers(get); err != nil {
		return Config{}, err
	}
	switch v := get("PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "false"); v {
	case "true", "1":
		c.WebhookAllowPrivateNetworks = true
	case "false", "0":
	default:
		return Config{}, fmt.Errorf("PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS: %q must be true or false", v)
	}
	if err := c.loadDocuments(get); err != nil {
		return Config{}, err
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return Config{}, fmt.Errorf("PAYORCH_LOG_FORMAT: must be json or text")
	}
	return c, nil
}

// readDatabase reads the pool size and the database timeouts (defaults: store's).
func (c *Config) readDatabase(get func(name, def string) string) error {
	v := get("PAYORCH_DATABASE_MAX_CONNS", strconv.Itoa(store.DefaultMaxConns))
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 || n > 1000 {
		return fmt.Errorf("PAYORCH_DATABASE_MAX_CONNS: %q must be a whole number from 2 to 1000", v)
	}
	c.DatabaseMaxConns = int32(n)
	for _, d := range []struct {
		name, def string
		dst       *time.Duration
		min, max  time.Duration
	}{
		{"PAYORCH_DATABASE_LOCK_TIMEOUT", store.DefaultLockTimeout.String(), &c.DatabaseLockTimeout, 10 * time.Millisecond, 5 * time.Minute},
		{"PAYORCH_DATABASE_STATEMENT_TIMEOUT", store.DefaultStatementTimeout.String(), &c.DatabaseStatementTimeout, 100 * time.Millisecond, time.Hour},
	} {
		v := get(d.name, d.def)
		t, err := time.ParseDuration(v)
		if err != nil || t < d.min || t > d.max {
			return fmt.Errorf("%s: %q must be a duration from %s to %s, like %s", d.name, v, d.min, d.max, d.def)
		}
		*d.dst = t
	}
	if c.DatabaseLockTimeout > c.DatabaseStatementTimeout {
		return fmt.Errorf("PAYORCH_DATABASE_LOCK_TIMEOUT: %s is longer than PAYORCH_DATABASE_STATEMENT_TIMEOUT (%s)", c.DatabaseLockTimeout, c.DatabaseStatementTimeout)
	}
	return nil
}

// parseLimit reads a positive decimal amount such as 100 or 250.50.
func parseLimit(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil || strings.ContainsAny(s, "eE") {
		return decimal.Decimal{}, fmt.Errorf("%q is not a decimal amount like 100 or 250.50", s)
	}
	if !d.IsPositive() || d.GreaterThanOrEqual(decimal.New(1, 12)) {
		return decimal.Decimal{}, fmt.Errorf("%q must be greater than 0 and less than 10^12", s)
	}
	return d, nil
}

// ParseAPIKeys parses a comma list of role:key pairs ("backend:k1,support:k2").
func ParseAPIKeys(s string) ([]APIKey, error) {
	var keys []APIKey
	if s == "" {
		return nil, nil
	}
	seen := map[[32]byte]bool{}
	for i, part := range strings.Split(s, ",") {
		role, key, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || key == "" {
			return nil, fmt.Errorf("entry %d is not role:key", i+1)
		}
		r := Role(role)
		if r != RoleBackend && r != RoleSupport {
			return nil, fmt.Errorf("entry %d: role %q is not backend or support", i+1, role)
		}
		if len(key) < 8 {
			return nil, fmt.Errorf("entry %d: key shorter than 8 characters", i+1)
		}
		h := sha256.Sum256([]byte(key))
		if seen[h] {
			return nil, fmt.Errorf("entry %d: key listed twice", i+1)
		}
		seen[h] = true
		keys = append(keys, APIKey{Role: r, hash: h})
	}
	return keys, nil
}

// Authenticate returns the key matching the presented secret, comparing every
// configured key in constant time.
func Authenticate(keys []APIKey, presented string) (APIKey, bool) {
	h := sha256.Sum256([]byte(presented))
	var found APIKey
	ok := false
	for _, k := range keys {
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 {
			found, ok = k, true
		}
	}
	return found, ok
}

// Fingerprint is a stable, non-secret identifier of the key (for scoping idempotency keys and logs).
func (k APIKey) Fingerprint() string { return fmt.Sprintf("%x", k.hash[:8]) }

// MaxRetryScheduleSteps bounds PAYORCH_RETRY_SCHEDULE: the configuration's limit before
// the dunning policy (20 positive delays, none too long), kept so that every existing
// configuration still boots; the API's tighter bounds (dunning.EdgeLimits) apply to
// what a PUT sets.
const MaxRetryScheduleSteps = 20

// ParseRetrySchedule parses a comma list of Go durations ("2h,12h,24h"): 1 to
// MaxRetryScheduleSteps delays, each positive.
func ParseRetrySchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration like 2h or 30m", strings.TrimSpace(part))
		}
		if d <= 0 {
			return nil, fmt.Errorf("%q must be positive", part)
		}
		out = append(out, d)
	}
	if len(out) > MaxRetryScheduleSteps {
		return nil, fmt.Errorf("between 1 and %d delays, got %d", MaxRetryScheduleSteps, len(out))
	}
	return out, nil
}

// ParseDunningByErrorType parses the dunning policy's schedules per error type,
// "type=delay,delay;type=delay" (empty: none), validated with def as the default
// schedule by the policy's one rule: each type's schedule within dunning.EdgeLimits
// (minDelay its floor), def only as ParseRetrySchedule bounds it.
func ParseDunningByErrorType(s string, def []time.Duration, minDelay time.Duration) (map[string][]time.Duration, error) {
	by := map[string][]string{}
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		t, delays, ok := strings.Cut(part, "=")
		t = strings.TrimSpace(t)
		if !ok || t == "" {
			return nil, fmt.Errorf("%q is not error_type=delay,delay", strings.TrimSpace(part))
		}
		if _, dup := by[t]; dup {
			return nil, fmt.Errorf("%s is listed twice", t)
		}
		by[t] = strings.Split(delays, ",")
	}
	p, err := dunning.ParsePolicyWith(dunning.FormatSchedule(def), by, dunning.StoredLimits, dunning.EdgeLimits(minDelay))
	if err != nil {
		return nil, errors.New(message(err))
	}
	return p.ByErrorType, nil
}

// message is a typed error's message without its kind and code (the variable is named instead).
func message(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Message
	}
	return err.Error()
}

// NewLogger builds the process logger from the configuration.
func (c Config) NewLogger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// checkEventsOut validates the webhook and email settings; each error names its variable
// and never repeats the SMTP URL (it may hold a password).
func (c *Config) checkEventsOut(poll string) error {
	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			return fmt.Errorf("PAYORCH_SMTP_URL: must look like smtp://user:pass@host:587 or smtps://host:465")
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("PAYORCH_SMTP_URL: the port is not a TCP port")
			}
		}
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		return fmt.Errorf("PAYORCH_MAIL_FROM: %q is not an address like Billing <billing@example.com>", c.MailFrom)
	}
	if u, err := url.Parse(c.PortalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("PAYORCH_PORTAL_URL: %q is not an http(s) URL", c.PortalURL)
	}
	d, err := time.ParseDuration(poll)
	if err != nil || d < 10*time.Millisecond || d > time.Hour {
		return fmt.Errorf("PAYORCH_OUTBOX_POLL_INTERVAL: %q must be a duration from 10ms to 1h, like 1s", poll)
	}
	c.OutboxPollInterval = d
	if c.BankIBAN != "" && !validIBAN(c.BankIBAN) {
		return fmt.Errorf("PAYORCH_BANK_IBAN: not a valid IBAN (country code, check digits, 11 to 30 letters or digits)")
	}
	if c.BankBIC != "" && !bicPattern.MatchString(c.BankBIC) {
		return fmt.Errorf("PAYORCH_BANK_BIC: %q is not a BIC like AGRIFRPP or AGRIFRPPXXX", c.BankBIC)
	}
	if len(c.BankAccountHolder) > 140 {
		return fmt.Errorf("PAYORCH_BANK_ACCOUNT_HOLDER: longer than 140 characters")
	}
	return nil
}

var (
	bicPattern  = regexp.MustCompile(`^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$`)
	ibanPattern = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]+$`)
)

// validIBAN checks an IBAN's shape and its ISO 7064 mod-97 check digits.
func validIBAN(iban string) bool {
	if len(iban) < 15 || len(iban) > 34 || !ibanPattern.MatchString(iban) {
		return false
	}
	rem := 0
	for _, r := range iban[4:] + iban[:4] {
		if r >= 'A' && r <= 'Z' {
			rem = (rem*100 + int(r-'A'+10)) % 97
		} else {
			rem = (rem*10 + int(r-'0')) % 97
		}
	}
	return rem == 1
}
