package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"payorch/apperr"
	"payorch/payments"
	"payorch/store"
)

// providerEventTimeout bounds the handling of one inbound provider event (Stripe waits
// about 20 s for an answer before it counts the delivery as failed).
const providerEventTimeout = 15 * time.Second

// StripeWebhookResponse is the body of a 200 answer to a Stripe webhook.
type StripeWebhookResponse struct {
	// Received is always true.
	Received bool `json:"received"`
	// EventID is Stripe's event id ("evt_…"); empty for an ignored event type.
	EventID string `json:"event_id,omitempty"`
	// Status is processed (handed to the event handler now), duplicate (already
	// processed: not handed again) or ignored (an event type payorch does not act on).
	Status string `json:"status"`
}

// providerRoutes adds the inbound provider webhooks. They carry no bearer key and no
// Idempotency-Key: the provider's signature authenticates them and its event id
// de-duplicates them.
func (s *Server) providerRoutes() {
	s.engine.POST("/v1/providers/stripe/webhooks", s.stripeWebhook)
}

// stripeWebhook verifies a Stripe webhook (Stripe-Signature, STRIPE_WEBHOOK_SECRET) and
// hands the PaymentIntent outcomes to the provider event handler, each event at most once.
//
//   - secret not configured, or no event handler wired: 503 (Stripe retries for days)
//   - missing, bad or stale signature: 400 invalid_signature, nothing processed
//   - signed but unreadable event: 400 invalid_event
//   - other event types: 200 ignored
//   - an event id already processed: 200 duplicate, the handler is not called again
//   - handler error: 500 and nothing recorded, so Stripe's retry processes it
func (s *Server) stripeWebhook(c *gin.Context) {
	if s.stripeWebhookSecret == "" {
		s.fail(c, apperr.New(apperr.Unavailable, "stripe_webhooks_not_configured",
			"STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks cannot be verified"))
		return
	}
	payload, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			s.fail(c, apperr.InvalidParam("", codeBodyTooLarge, "the body exceeds the size limit"))
			return
		}
		s.fail(c, apperr.InvalidParam("", "body_invalid", "the body could not be read"))
		return
	}
	ev, ok, err := payments.ParseStripeEvent(payload, c.GetHeader("Stripe-Signature"), s.stripeWebhookSecret)
	if errors.Is(err, payments.ErrBadSignature) {
		s.fail(c, apperr.New(apperr.Invalid, "invalid_signature",
			"the Stripe-Signature header is missing, malformed, stale or does not match the body"))
		return
	}
	if err != nil {
		s.fail(c, apperr.New(apperr.Invalid, "invalid_event", "the event could not be read: "+err.Error()))
		return
	}
	if !ok {
		c.JSON(http.StatusOK, StripeWebhookResponse{Received: true, Status: "ignored"})
		return
	}
	if s.providerEvents == nil {
		s.fail(c, apperr.New(apperr.Unavailable, "provider_events_unavailable",
			"this server has no provider event handler; the event was not processed"))
		return
	}
	duplicate, err := s.processProviderEvent(c.Request.Context(), ev)
	if err != nil {
		s.log.ErrorContext(c.Request.Context(), "provider event failed; the provider will retry",
			"provider", ev.Provider, "event_id", ev.ID, "reference", ev.Reference, "error", err,
			"request_id", c.GetString(ctxRequestID))
		s.fail(c, apperr.New(apperr.Internal, "event_processing_failed",
			"the event could not be processed; it was logged with request id "+c.GetString(ctxRequestID)+" and can be sent again"))
		return
	}
	status := "processed"
	if duplicate {
		status = "duplicate"
	}
	c.JSON(http.StatusOK, StripeWebhookResponse{Received: true, EventID: ev.ID, Status: status})
}

// processProviderEvent records ev in provider_events and hands it to the event handler, in
// one transaction: a concurrent delivery of the same event waits for it, and a handler
// error or a crash rolls the record back so that a later delivery processes the event.
// It reports duplicate when the event was already processed.
func (s *Server) processProviderEvent(ctx context.Context, ev payments.Event) (duplicate bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, providerEventTimeout)
	defer cancel()
	err = store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		n, err := q.InsertProviderEvent(ctx, store.InsertProviderEventParams{
			Provider: ev.Provider, EventID: ev.ID, Reference: ev.Reference, Status: string(ev.Status)})
		if err != nil {
			return err
		}
		if n == 0 {
			duplicate = true
			return nil
		}
		if err := s.providerEvents.HandleProviderEvent(ctx, ev); err != nil {
			return err
		}
		return q.MarkProviderEventProcessed(ctx, store.MarkProviderEventProcessedParams{Provider: ev.Provider, EventID: ev.ID})
	})
	return duplicate, err
}
