package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/apperr"
	"payorch/store"
)

// View is an event as GET /v1/events shows it: the row the outbox wrote, with the
// resource as it was when the event happened.
type View struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	// Type is one of the Catalog.
	Type string `json:"type"`
	// ObjectType and ObjectID name the resource the event is about ("invoice", "inv_…").
	ObjectType string  `json:"object_type"`
	ObjectID   string  `json:"object_id"`
	CustomerID *string `json:"customer_id"`
	// Data is the resource as the API returned it then (the webhook's data).
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// ListParams filters and pages the event list (newest first).
type ListParams struct {
	// Limit is the page size (1..100).
	Limit int32
	// BeforeSeq is the cursor: only events older than it.
	BeforeSeq *int64
	// Type keeps one event type of the Catalog (400 for any other).
	Type *string
	// ObjectID keeps the events about one resource.
	ObjectID *string
	// CustomerID keeps the events of one customer.
	CustomerID *string
}

// List returns a page of the public events (the Catalog; never the internal email.*
// ones), newest first, and the cursor of the next page (nil at the end).
func List(ctx context.Context, pool *pgxpool.Pool, p ListParams) ([]View, *int64, error) {
	types := Catalog
	if p.Type != nil {
		if !slices.Contains(Catalog, *p.Type) {
			return nil, nil, apperr.InvalidParam("type", "parameter_invalid", "type must be one of "+strings.Join(Catalog, ", "))
		}
		types = []string{*p.Type}
	}
	rows, err := store.New(pool).ListEvents(ctx, store.ListEventsParams{
		Types: types, CustomerID: p.CustomerID, ResourceID: p.ObjectID, BeforeSeq: p.BeforeSeq, Lim: p.Limit + 1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list events: %w", err)
	}
	out, next := store.Page(rows, p.Limit, func(r store.Event) int64 { return r.Seq }, func(r store.Event) View {
		return View{ID: r.ID, Object: "event", Type: r.Type, ObjectType: r.ResourceType, ObjectID: r.ResourceID,
			CustomerID: r.CustomerID, Data: r.Data, CreatedAt: r.CreatedAt.UTC()}
	})
	return out, next, nil
}
