// Package settings holds the merchant's settings that the API can change at run time:
// the dunning policy (PUT/GET /v1/settings/dunning). The rule itself — what a policy may
// say and how a failed charge is retried under it — is package dunning's; this package
// stores a validated policy and says which one is in force: the stored one, or else the
// configuration's (PAYORCH_RETRY_SCHEDULE, PAYORCH_DUNNING_BY_ERROR_TYPE).
package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/dunning"
	"payorch/store"
)

// Sources of the policy in force.
const (
	SourceConfiguration = "configuration"
	SourceSettings      = "settings"
)

// AppliesTo is what a change of the policy affects, in the API's words.
const AppliesTo = "workflows started from now on: each invoice's payment workflow takes a copy of the policy when it starts, so a change never alters a running one"

// Service reads and writes the settings.
type Service struct {
	pool *pgxpool.Pool
	// configured is the configuration's policy, in force until one is stored.
	configured dunning.Policy
	// MinDelay is the shortest delay a PUT may set (dunning.EdgeLimits; zero:
	// dunning.MinDelay). Only a development or test configuration lowers it
	// (PAYORCH_DUNNING_MIN_DELAY).
	MinDelay time.Duration
	// Log receives the warning when a stored policy no longer meets today's bounds
	// (nil: slog.Default()).
	Log *slog.Logger
}

// NewService returns the settings of the database at pool; configured is the
// configuration's dunning policy (a nil Default is the seeds' 2h, 12h, 24h).
func NewService(pool *pgxpool.Pool, configured dunning.Policy) *Service {
	if len(configured.Default) == 0 {
		configured.Default = []time.Duration{2 * time.Hour, 12 * time.Hour, 24 * time.Hour}
	}
	return &Service{pool: pool, configured: configured}
}

// DunningPolicy is the dunning policy as the API shows it.
type DunningPolicy struct {
	Object string `json:"object"`
	// Default and ByErrorType are the schedules, as Go durations ("15m", "2h").
	Default     []string            `json:"default"`
	ByErrorType map[string][]string `json:"by_error_type"`
	// Source is where the policy in force comes from: configuration or settings (a PUT).
	Source    string     `json:"source"`
	UpdatedAt *time.Time `json:"updated_at"`
	// AppliesTo says that a change applies to workflows started from now on only.
	AppliesTo string `json:"applies_to"`
	// FixedRules are the error types no policy changes, with what happens to them.
	FixedRules map[string]string `json:"fixed_rules"`
}

// DunningInput is the body of PUT /v1/settings/dunning: the whole policy.
type DunningInput struct {
	Default     []string            `json:"default"`
	ByErrorType map[string][]string `json:"by_error_type"`
}

// Policy returns the dunning policy in force (the stored one, or the configuration's):
// what a payment workflow that starts now takes.
func (s *Service) Policy(ctx context.Context) (dunning.Policy, error) {
	p, _, err := s.current(ctx)
	return p, err
}

// Dunning returns the policy in force as the API shows it.
func (s *Service) Dunning(ctx context.Context) (DunningPolicy, error) {
	p, row, err := s.current(ctx)
	if err != nil {
		return DunningPolicy{}, err
	}
	return view(p, row), nil
}

// SetDunning validates and stores a new policy (a typed 400 naming the field, and nothing
// written, when it is refused); updatedBy names who set it (an API key's fingerprint).
// Running workflows keep theirs.
func (s *Service) SetDunning(ctx context.Context, in DunningInput, updatedBy string) (DunningPolicy, error) {
	lim := dunning.EdgeLimits(s.MinDelay)
	p, err := dunning.ParsePolicyWith(in.Default, in.ByErrorType, lim, lim)
	if err != nil {
		return DunningPolicy{}, err
	}
	def, by := p.Strings()
	raw, err := json.Marshal(by)
	if err != nil {
		return DunningPolicy{}, err
	}
	row, err := store.New(s.pool).PutDunningPolicy(ctx, store.PutDunningPolicyParams{DefaultSchedule: def, ByErrorType: raw, UpdatedBy: updatedBy})
	if err != nil {
		return DunningPolicy{}, fmt.Errorf("store the dunning policy: %w", err)
	}
	return view(p, &row), nil
}

// current reads the stored policy (row nil: none stored, the configuration's is in force).
func (s *Service) current(ctx context.Context) (dunning.Policy, *store.DunningPolicy, error) {
	row, err := store.New(s.pool).GetDunningPolicy(ctx)
	if store.IsNoRows(err) {
		return s.configured, nil, nil
	}
	if err != nil {
		return dunning.Policy{}, nil, fmt.Errorf("read the dunning policy: %w", err)
	}
	var by map[string][]string
	if err := json.Unmarshal(row.ByErrorType, &by); err != nil {
		return dunning.Policy{}, nil, fmt.Errorf("the stored dunning policy: %w", err)
	}
	// The policy was validated when it was stored. Bounds tightened since must not stop
	// every collection from starting: it is read back with its shape checked only
	// (dunning.StoredLimits), and a policy outside today's bounds is logged, not refused.
	p, err := dunning.ParsePolicyWith(row.DefaultSchedule, by, dunning.StoredLimits, dunning.StoredLimits)
	if err != nil {
		return dunning.Policy{}, nil, fmt.Errorf("the stored dunning policy is not valid: %w", err)
	}
	if lim := dunning.EdgeLimits(s.MinDelay); p.ValidateWith(lim, lim) != nil {
		log := s.Log
		if log == nil {
			log = slog.Default()
		}
		log.Warn("the stored dunning policy is outside today's bounds; it stays in force until a PUT replaces it",
			"error", p.ValidateWith(lim, lim).Error())
	}
	return p, &row, nil
}

func view(p dunning.Policy, row *store.DunningPolicy) DunningPolicy {
	def, by := p.Strings()
	v := DunningPolicy{Object: "dunning_policy", Default: def, ByErrorType: by, Source: SourceConfiguration,
		AppliesTo: AppliesTo, FixedRules: dunning.FixedRules()}
	if row != nil {
		at := row.UpdatedAt.UTC()
		v.Source, v.UpdatedAt = SourceSettings, &at
	}
	return v
}
