package idempotency

import (
	"context"
	"testing"
	"time"
)

// TestUpdateIDs: a retry of the same request derives the same Update id (it attaches to
// the Update admitted); a rerun after a failure (next generation), a key reused after its
// retention (another creation time), another request or another key derive another.
func TestUpdateIDs(t *testing.T) {
	created := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	k := Key{Scope: "backend:abc", Key: "k-1", RequestHash: RequestHash("POST", "/v1/invoices/inv_1/retry", []byte(`{}`)), Created: created}
	id := func(k Key) string { return UpdateID(WithKey(context.Background(), k), "retry") }
	same := k
	if id(k) != id(same) || id(k) == "" {
		t.Fatalf("the same request derived %q and %q", id(k), id(same))
	}
	for name, other := range map[string]Key{
		"next generation": {Scope: k.Scope, Key: k.Key, RequestHash: k.RequestHash, Created: created, Generation: 1},
		"reused key":      {Scope: k.Scope, Key: k.Key, RequestHash: k.RequestHash, Created: created.Add(25 * time.Hour)},
		"other request":   {Scope: k.Scope, Key: k.Key, RequestHash: RequestHash("POST", "/v1/invoices/inv_2/retry", []byte(`{}`)), Created: created},
		"other key":       {Scope: k.Scope, Key: "k-2", RequestHash: k.RequestHash, Created: created},
		"other scope":     {Scope: "support:def", Key: k.Key, RequestHash: k.RequestHash, Created: created},
	} {
		if id(other) == id(k) {
			t.Errorf("%s derived the same Update id %q", name, id(k))
		}
	}
	if UpdateID(context.Background(), "retry") != "" {
		t.Fatal("no key: want no id (the client makes a fresh one)")
	}
}

// TestRequestHashComparesJSONValues: key order and white space do not matter; values do.
func TestRequestHashComparesJSONValues(t *testing.T) {
	a := RequestHash("POST", "/v1/x", []byte(`{"a":"1.0","b":[1,2]}`))
	if b := RequestHash("POST", "/v1/x", []byte("{ \"b\": [1, 2],\n \"a\": \"1.0\" }")); string(a) != string(b) {
		t.Fatal("the same JSON value hashed differently")
	}
	for _, body := range []string{`{"a":"1.00","b":[1,2]}`, `{"a":"1.0","b":[2,1]}`, `{"a":"1.0","b":[1,2],"c":null}`} {
		if string(RequestHash("POST", "/v1/x", []byte(body))) == string(a) {
			t.Errorf("%s hashed like the first body", body)
		}
	}
	if string(RequestHash("POST", "/v1/x", nil)) != string(RequestHash("POST", "/v1/x", []byte(" \n"))) {
		t.Fatal("an empty body and white space differ")
	}
}
