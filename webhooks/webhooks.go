// Package webhooks sends the outbox's public events to the merchant's registered endpoints:
// endpoint management (validation, secrets shown once, rotation with a 24 h overlap), the
// fan-out of each event to the matching enabled endpoints, Standard Webhooks signing, and
// delivery with durable retries (a transactional poller over webhook_deliveries; see
// Dispatcher).
package webhooks

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/apperr"
	"payorch/idempotency"
	"payorch/ids"
	"payorch/outbox"
	"payorch/store"
)

// DeliveryPrefix is the id prefix of webhook deliveries ("whd_…").
const DeliveryPrefix = "whd"

// AllEvents, as the only element of an endpoint's events, subscribes it to every public
// event type, present and future.
const AllEvents = "*"

// SecretOverlap is how long a rotated-out secret keeps signing alongside the new one.
const SecretOverlap = 24 * time.Hour

// Endpoint statuses.
const (
	// StatusActive is an enabled endpoint whose deliveries succeed.
	StatusActive = "active"
	// StatusFailing is an enabled endpoint with a delivery that exhausted its retries and
	// no successful delivery since.
	StatusFailing = "failing"
	// StatusDisabled is an endpoint that receives nothing.
	StatusDisabled = "disabled"
)

// Delivery statuses.
const (
	// DeliveryPending is waiting for its next attempt.
	DeliveryPending = "pending"
	// DeliveryDelivered got a 2xx answer.
	DeliveryDelivered = "delivered"
	// DeliveryFailed exhausted its retries (a manual retry makes it pending again).
	DeliveryFailed = "failed"
)

// DeliveryStatuses are all the statuses a delivery can have, the values of the list filter.
var DeliveryStatuses = []string{DeliveryPending, DeliveryDelivered, DeliveryFailed}

// Endpoint is a registered webhook endpoint, as the API returns it. Secret is set only in
// the responses of create and rotate-secret.
type Endpoint struct {
	ID           string     `json:"id"`
	Object       string     `json:"object"`
	URL          string     `json:"url"`
	Description  string     `json:"description"`
	Events       []string   `json:"events"`
	Enabled      bool       `json:"enabled"`
	Status       string     `json:"status"`
	FailingSince *time.Time `json:"failing_since"`
	Secret       string     `json:"secret,omitempty"`
	// PreviousSecretExpiresAt is when the rotated-out secret stops signing (nil: none).
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// Delivery is the state of one event's delivery to one endpoint, as the API returns it.
type Delivery struct {
	ID             string     `json:"id"`
	Object         string     `json:"object"`
	EndpointID     string     `json:"endpoint_id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"`
	Attempts       int32      `json:"attempts"`
	LastAttemptAt  *time.Time `json:"last_attempt_at"`
	LastStatusCode *int32     `json:"last_status_code"`
	LastError      *string    `json:"last_error"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	RetryUntil     time.Time  `json:"retry_until"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	FailedAt       *time.Time `json:"failed_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

// Service manages endpoints and exposes deliveries.
type Service struct {
	pool *pgxpool.Pool
	// Now is the clock (time.Now in production).
	Now func() time.Time
	// RetryWindow is the retry window a manual retry gives a delivery (DefaultRetryWindow).
	RetryWindow time.Duration
	// AllowPrivateNetworks lets an endpoint URL name a loopback, private or other non-public
	// address literally (PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS); off, it is refused at
	// registration, and the delivery client refuses whatever a name resolves to.
	AllowPrivateNetworks bool
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool) *Service {
	return &Service{pool: pool, Now: time.Now, RetryWindow: DefaultRetryWindow}
}

// CreateInput is the body of POST /v1/webhook-endpoints.
type CreateInput struct {
	URL string `json:"url"`
	// Events are the subscribed types; nil (omitted) or ["*"] means all.
	Events      []string `json:"events"`
	Description *string  `json:"description"`
	Enabled     *bool    `json:"enabled"`
}

// UpdateInput is the body of PATCH /v1/webhook-endpoints/{id}; nil fields are unchanged.
type UpdateInput struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// Create validates and registers an endpoint and returns it with its secret (the only
// time the secret is shown).
func (s *Service) Create(ctx context.Context, in CreateInput) (Endpoint, error) {
	u, err := validateURL(in.URL, s.AllowPrivateNetworks)
	if err != nil {
		return Endpoint{}, err
	}
	events := []string{}
	if in.Events != nil {
		if events, err = validateEvents(in.Events); err != nil {
			return Endpoint{}, err
		}
	}
	desc := ""
	if in.Description != nil {
		if desc, err = validateDescription(*in.Description); err != nil {
			return Endpoint{}, err
		}
	}
	enabled := in.Enabled == nil || *in.Enabled
	secret, err := NewSecret()
	if err != nil {
		return Endpoint{}, err
	}
	var out Endpoint
	err = store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		// A retry of the request that registered an endpoint gets that one (and its
		// secret), not a second endpoint that would receive every event again.
		prev, found, err := idempotency.Reuse(ctx, q, func(id string) (Endpoint, error) {
			row, err := q.GetWebhookEndpoint(ctx, id)
			e := s.endpointFromRow(row)
			e.Secret = row.Secret
			return e, err
		})
		if err != nil || found {
			out = prev
			return err
		}
		row, err := q.CreateWebhookEndpoint(ctx, store.CreateWebhookEndpointParams{
			ID: ids.New(ids.WebhookEndpoint), Url: u, Description: desc, Events: events, Enabled: enabled, Secret: secret,
		})
		if err != nil {
			return fmt.Errorf("create webhook endpoint: %w", err)
		}
		out = s.endpointFromRow(row)
		out.Secret = row.Secret
		return idempotency.Bind(ctx, q, row.ID, out)
	})
	return out, err
}

// Get returns an endpoint (without its secret).
func (s *Service) Get(ctx context.Context, id string) (Endpoint, error) {
	row, err := store.New(s.pool).GetWebhookEndpoint(ctx, id)
	if store.IsNoRows(err) {
		return Endpoint{}, apperr.NotFoundf("webhook endpoint", id)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("get webhook endpoint: %w", err)
	}
	return s.endpointFromRow(row), nil
}

// List returns a page of endpoints, newest first, and the next page's cursor (nil at the end).
func (s *Service) List(ctx context.Context, limit int32, beforeSeq *int64) ([]Endpoint, *int64, error) {
	rows, err := store.New(s.pool).ListWebhookEndpoints(ctx, store.ListWebhookEndpointsParams{Limit: limit + 1, BeforeSeq: beforeSeq})
	if err != nil {
		return nil, nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	out, next := store.Page(rows, limit, func(r store.WebhookEndpoint) int64 { return r.Seq }, s.endpointFromRow)
	return out, next, nil
}

// Update changes an endpoint's url, events, description or enabled flag. Disabling an
// endpoint pauses it: no delivery is created for it while disabled, and the deliveries it
// already had wait until it is enabled again.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (Endpoint, error) {
	p := store.UpdateWebhookEndpointParams{ID: id, Enabled: in.Enabled}
	if in.URL != nil {
		u, err := validateURL(*in.URL, s.AllowPrivateNetworks)
		if err != nil {
			return Endpoint{}, err
		}
		p.Url = &u
	}
	if in.Events != nil {
		if *in.Events == nil {
			return Endpoint{}, apperr.InvalidParam("events", "parameter_invalid", `events must be a list of event types, or ["*"] for all`)
		}
		events, err := validateEvents(*in.Events)
		if err != nil {
			return Endpoint{}, err
		}
		p.Events = events
	}
	if in.Description != nil {
		d, err := validateDescription(*in.Description)
		if err != nil {
			return Endpoint{}, err
		}
		p.Description = &d
	}
	row, err := store.New(s.pool).UpdateWebhookEndpoint(ctx, p)
	if store.IsNoRows(err) {
		return Endpoint{}, apperr.NotFoundf("webhook endpoint", id)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("update webhook endpoint: %w", err)
	}
	return s.endpointFromRow(row), nil
}

// Delete removes an endpoint and its deliveries.
func (s *Service) Delete(ctx context.Context, id string) error {
	n, err := store.New(s.pool).DeleteWebhookEndpoint(ctx, id)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if n == 0 {
		return apperr.NotFoundf("webhook endpoint", id)
	}
	return nil
}

// RotateSecret gives the endpoint a new secret, returned once. The old secret keeps
// signing alongside the new one for SecretOverlap, so receivers can switch without losing
// a message.
func (s *Service) RotateSecret(ctx context.Context, id string) (Endpoint, error) {
	secret, err := NewSecret()
	if err != nil {
		return Endpoint{}, err
	}
	row, err := store.New(s.pool).RotateWebhookEndpointSecret(ctx, store.RotateWebhookEndpointSecretParams{
		ID: id, Secret: secret, PreviousExpiresAt: s.Now().Add(SecretOverlap),
	})
	if store.IsNoRows(err) {
		return Endpoint{}, apperr.NotFoundf("webhook endpoint", id)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("rotate webhook secret: %w", err)
	}
	out := s.endpointFromRow(row)
	out.Secret = row.Secret
	return out, nil
}

// DeliveryListParams filters and pages an endpoint's deliveries (newest first).
type DeliveryListParams struct {
	// Limit is the page size (1..100).
	Limit int32
	// BeforeSeq is the cursor.
	BeforeSeq *int64
	// Status filters on pending, delivered or failed.
	Status *string
}

// ListDeliveries returns a page of an endpoint's deliveries, newest first.
func (s *Service) ListDeliveries(ctx context.Context, endpointID string, p DeliveryListParams) ([]Delivery, *int64, error) {
	if _, err := s.Get(ctx, endpointID); err != nil {
		return nil, nil, err
	}
	if p.Status != nil && !slices.Contains(DeliveryStatuses, *p.Status) {
		return nil, nil, apperr.InvalidParam("status", "parameter_invalid", "status must be pending, delivered or failed")
	}
	rows, err := store.New(s.pool).ListWebhookDeliveries(ctx, store.ListWebhookDeliveriesParams{
		EndpointID: endpointID, BeforeSeq: p.BeforeSeq, Status: p.Status, RowLimit: p.Limit + 1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	out, next := store.Page(rows, p.Limit, func(r store.WebhookDelivery) int64 { return r.Seq }, deliveryFromRow)
	return out, next, nil
}

// GetDelivery returns one delivery.
func (s *Service) GetDelivery(ctx context.Context, id string) (Delivery, error) {
	row, err := store.New(s.pool).GetWebhookDelivery(ctx, id)
	if store.IsNoRows(err) {
		return Delivery{}, apperr.NotFoundf("webhook delivery", id)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("get webhook delivery: %w", err)
	}
	return deliveryFromRow(row), nil
}

// RetryDelivery makes a delivery (pending, delivered or failed) due now, with a new retry
// window; the worker sends it within its poll interval, after any earlier pending event
// about the same resource.
func (s *Service) RetryDelivery(ctx context.Context, id string) (Delivery, error) {
	now := s.Now()
	row, err := store.New(s.pool).RetryWebhookDelivery(ctx, store.RetryWebhookDeliveryParams{
		ID: id, Now: now, RetryUntil: now.Add(s.RetryWindow),
	})
	if store.IsNoRows(err) {
		return Delivery{}, apperr.NotFoundf("webhook delivery", id)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("retry webhook delivery: %w", err)
	}
	return deliveryFromRow(row), nil
}

// validateURL checks an endpoint URL at registration: absolute http(s), no fragment, no
// user:password@, a port from 1 to 65535 and, unless allowPrivate, no literal address that
// is not public (nor localhost). A name is checked when it is dialled (NewHTTPClient).
func validateURL(raw string, allowPrivate bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", apperr.InvalidParam("url", "parameter_missing", "url is required")
	}
	if len(raw) > 2048 {
		return "", apperr.InvalidParam("url", "parameter_invalid", "url is longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "", apperr.InvalidParam("url", "url_invalid", "url must be an absolute http:// or https:// URL")
	}
	if u.Fragment != "" {
		return "", apperr.InvalidParam("url", "url_invalid", "url must not have a #fragment")
	}
	if u.User != nil {
		return "", apperr.InvalidParam("url", "url_invalid", "url must not carry a user name or password (user:pass@): payorch signs its requests instead")
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", apperr.InvalidParam("url", "url_invalid", "url has an invalid port: it must be from 1 to 65535")
		}
	}
	if !allowPrivate {
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		if ip, err := netip.ParseAddr(host); err == nil && !PublicAddress(ip) {
			return "", apperr.InvalidParam("url", "url_not_public",
				"url must reach a public address; "+ip.String()+" is loopback, private, link-local or reserved (PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS)")
		}
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			return "", apperr.InvalidParam("url", "url_not_public",
				"url must reach a public address, not localhost (PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS)")
		}
	}
	return u.String(), nil
}

func validateEvents(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, apperr.InvalidParam("events", "parameter_invalid", `events must list at least one event type, or be ["*"] (or omitted) for all`)
	}
	if slices.Contains(in, AllEvents) {
		if len(in) > 1 {
			return nil, apperr.InvalidParam("events", "parameter_invalid", `"*" (all event types) cannot be combined with other types`)
		}
		return []string{}, nil
	}
	out := make([]string, 0, len(in))
	for _, t := range in {
		if !slices.Contains(outbox.Catalog, t) {
			return nil, apperr.InvalidParam("events", "event_type_unknown",
				fmt.Sprintf("unknown event type %q; known types: %s", t, strings.Join(outbox.Catalog, ", ")))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func validateDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if len(d) > 500 {
		return "", apperr.InvalidParam("description", "parameter_invalid", "description is longer than 500 characters")
	}
	return d, nil
}

// subscribed reports whether an endpoint with the stored events list wants eventType.
func subscribed(events []string, eventType string) bool {
	if !slices.Contains(outbox.Catalog, eventType) {
		return false // internal (email.*) or unknown types never leave payorch
	}
	return len(events) == 0 || slices.Contains(events, eventType)
}

func (s *Service) endpointFromRow(r store.WebhookEndpoint) Endpoint {
	events := r.Events
	if len(events) == 0 {
		events = []string{AllEvents}
	}
	status := StatusActive
	switch {
	case !r.Enabled:
		status = StatusDisabled
	case r.FailingSince != nil:
		status = StatusFailing
	}
	var prevExp *time.Time
	if r.PreviousSecretExpiresAt != nil && r.PreviousSecretExpiresAt.After(s.Now()) {
		t := r.PreviousSecretExpiresAt.UTC()
		prevExp = &t
	}
	return Endpoint{
		ID: r.ID, Object: "webhook_endpoint", URL: r.Url, Description: r.Description, Events: events,
		Enabled: r.Enabled, Status: status, FailingSince: utc(r.FailingSince),
		PreviousSecretExpiresAt: prevExp, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func deliveryFromRow(r store.WebhookDelivery) Delivery {
	return Delivery{
		ID: r.ID, Object: "webhook_delivery", EndpointID: r.EndpointID, EventID: r.EventID, EventType: r.EventType,
		Status: r.Status, Attempts: r.Attempts, LastAttemptAt: utc(r.LastAttemptAt), LastStatusCode: r.LastStatusCode,
		LastError: r.LastError, NextAttemptAt: utc(r.NextAttemptAt), RetryUntil: r.RetryUntil.UTC(),
		DeliveredAt: utc(r.DeliveredAt), FailedAt: utc(r.FailedAt), CreatedAt: r.CreatedAt.UTC(),
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
