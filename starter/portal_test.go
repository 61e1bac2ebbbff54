package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"payorch/customers"
	"payorch/portal"
)

// TestPortalCommand: starter portal cus_… prints a portal URL whose token opens that
// customer's portal with the configured key.
func TestPortalCommand(t *testing.T) {
	pool, dbURL := env.Postgres.NewPool(t)
	secret := "starter-test-secret-0123456789abcdef"
	t.Setenv("PAYORCH_DATABASE_URL", dbURL)
	t.Setenv("PAYORCH_PORTAL_SECRET", secret)
	t.Setenv("PAYORCH_PORTAL_URL", "https://billing.acme.test/portal")
	t.Setenv("PAYORCH_LOG_LEVEL", "error")
	ctx := context.Background()
	cust, err := customers.NewService(pool).Create(ctx, customers.CreateInput{Name: "Ada", Email: "ada@example.com", Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	var out, info bytes.Buffer
	if err := portalLink(ctx, []string{cust.ID}, &out, &info); err != nil {
		t.Fatal(err)
	}
	link := strings.TrimSpace(out.String())
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, "https://billing.acme.test/portal?token=") || strings.Contains(link, "\n") {
		t.Fatalf("printed %q", out.String())
	}
	who, err := portal.NewSessions(pool, []byte(secret), "", time.Hour, time.Hour).Authenticate(ctx, u.Query().Get("token"))
	if err != nil || who.CustomerID != cust.ID {
		t.Fatalf("the printed link opens %+v (%v), want %s", who, err, cust.ID)
	}
	if !strings.Contains(info.String(), "valid until") {
		t.Fatalf("info %q", info.String())
	}
	for _, bad := range [][]string{{}, {"inv_1"}, {cust.ID, "cus_2"}} {
		if err := portalLink(ctx, bad, &out, &info); err == nil {
			t.Fatalf("portal %v accepted", bad)
		}
	}
	if err := portalLink(ctx, []string{"cus_nope"}, &out, &info); err == nil {
		t.Fatal("a link for an unknown customer")
	}
}
