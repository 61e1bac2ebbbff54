// Package config reads payorch's configuration from PAYORCH_* environment variables, with
// defaults for local development. A bad value is an error naming the variable.
package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
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
	// TemporalAddress is the Temporal frontend host:port (PAYORCH_TEMPORAL_ADDRESS).
	TemporalAddress string
	// TemporalNamespace is the Temporal namespace (PAYORCH_TEMPORAL_NAMESPACE).
	TemporalNamespace string
	// TaskQueue is the Temporal task queue of the worker (PAYORCH_TASK_QUEUE).
	TaskQueue string
	// APIKeys are the bearer keys accepted by the API (PAYORCH_API_KEYS).
	APIKeys []APIKey
	// RetrySchedule is the delay before each retry of a failed payment (PAYORCH_RETRY_SCHEDULE).
	RetrySchedule []time.Duration
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
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return Config{}, fmt.Errorf("PAYORCH_LOG_FORMAT: must be json or text")
	}
	return c, nil
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

// ParseRetrySchedule parses a comma list of Go durations ("2h,12h,24h"); each must be positive.
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
	if len(out) == 0 || len(out) > 20 {
		return nil, fmt.Errorf("between 1 and 20 delays, got %d", len(out))
	}
	return out, nil
}

// NewLogger builds the process logger from the configuration.
func (c Config) NewLogger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
