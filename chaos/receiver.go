package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver is the merchant's webhook endpoint on loopback. It verifies each request's
// Standard Webhooks signature, answers 200 and records every request, duplicates included,
// by event id (the webhook-id header).
type receiver struct {
	srv *http.Server
	URL string

	mu     sync.Mutex
	secret string
	got    map[string][]receipt
	bad    []string
}

// receipt is one request for an event.
type receipt struct {
	at   time.Time
	typ  string
	body string
}

func startReceiver() (*receiver, error) {
	l, err := loopback()
	if err != nil {
		return nil, err
	}
	rc := &receiver{URL: "http://" + l.Addr().String() + "/payorch", got: map[string][]receipt{}}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rc.srv.Serve(l) }()
	return rc, nil
}

func (rc *receiver) setSecret(s string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = s
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(r.Body)
	id := r.Header.Get(standardwebhooks.HeaderWebhookID)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.bad = append(rc.bad, fmt.Sprintf("webhook %s: body: %v", id, err))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if rc.secret == "" {
		rc.bad = append(rc.bad, fmt.Sprintf("webhook %s arrived before the endpoint's secret was known", id))
	} else if wh, err := standardwebhooks.NewWebhook(rc.secret); err != nil {
		rc.bad = append(rc.bad, fmt.Sprintf("webhook secret: %v", err))
	} else if err := wh.Verify(body, r.Header); err != nil {
		rc.bad = append(rc.bad, fmt.Sprintf("webhook %s: signature: %v", id, err))
	}
	var msg struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.ID != id {
		rc.bad = append(rc.bad, fmt.Sprintf("webhook %s: body id %q (%v)", id, msg.ID, err))
	}
	rc.got[id] = append(rc.got[id], receipt{at: now, typ: msg.Type, body: string(body)})
	w.WriteHeader(http.StatusOK)
}

// snapshot returns the receipts by event id and the malformed requests.
func (rc *receiver) snapshot() (map[string][]receipt, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string][]receipt, len(rc.got))
	for k, v := range rc.got {
		out[k] = append([]receipt(nil), v...)
	}
	return out, append([]string(nil), rc.bad...)
}

func (rc *receiver) close() { _ = rc.srv.Close() }
