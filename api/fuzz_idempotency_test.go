package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// reencode writes the one JSON value of body again with other bytes: object keys in
// reverse order, other white space, strings escaped anew (<, > and & as \u00XX), numbers
// as written. ok is false when body is not one JSON value.
func reencode(body string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", false
	}
	var b strings.Builder
	var write func(any)
	write = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Sort(sort.Reverse(sort.StringSlice(keys)))
			b.WriteString("{\n")
			for i, k := range keys {
				if i > 0 {
					b.WriteString(" ,\n")
				}
				kb, _ := json.Marshal(k)
				b.Write(kb)
				b.WriteString(" :\t")
				write(x[k])
			}
			b.WriteString("\n}")
		case []any:
			b.WriteString("[ ")
			for i, e := range x {
				if i > 0 {
					b.WriteString(" , ")
				}
				write(e)
			}
			b.WriteString(" ]")
		case json.Number:
			b.WriteString(x.String())
		default:
			raw, _ := json.Marshal(x) // strings (HTML-escaped), booleans, null
			b.Write(raw)
		}
	}
	write(v)
	return b.String(), true
}

// keyRecorded reports whether the idempotency key has a record.
func (fs *fuzzServer) keyRecorded(t *testing.T, key string) bool {
	t.Helper()
	var n int
	if err := fs.pool.QueryRow(context.Background(), "SELECT count(*) FROM idempotency_keys WHERE key = $1", key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// FuzzIdempotencyBody sends a customer creation with an arbitrary body under a fresh
// Idempotency-Key, then the same JSON value written with other bytes (key order, white
// space, escapes), then another value, under the same key. Bodies are compared as JSON
// values (DESIGN.md, "Exactly once at the edges"): when the first request's answer was
// recorded, the same value replays it byte for byte and writes nothing, and another value
// is a 409 idempotency_key_reused that writes nothing; when it was refused before the key
// was claimed (the guard), the key has no record and the same value is refused alike.
// Never a 5xx; a refusal is a typed 4xx that wrote nothing but the key's record.
func FuzzIdempotencyBody(f *testing.F) {
	fs := newFuzzServer(f)
	for _, b := range []string{
		`{"name":"Ada","email":"ada@example.com","currency":"EUR"}`,
		` {"currency":"EUR", "email":"ada@example.com","name":"Ada"} `,
		`{"name":"A\u0064a <&>","email":"ada@example.com","currency":"EUR","external_id":"ext-1"}`,
		`{"name":"Ada","email":"ada@example.com","currency":"EUR","zz":[1.0,1.00,1e2,{"b":null,"a":true}]}`,
		`{"name":"Ada","name":"Bob","email":"ada@example.com","currency":"EUR"}`,
		`{"name":"Ada","NAME":"Bob","email":"ada@example.com","currency":"EUR"}`,
		`{"name":1}`, `{}`, `[]`, `"x"`, `0`, `null`, `{`, `{} {}`, ``, `   `, `{"name":"a\u0000"}`, "{\"name\":\"\xff\"}",
	} {
		f.Add(b)
	}
	n := 0
	f.Fuzz(func(t *testing.T, body string) {
		if _, err := fs.pool.Exec(context.Background(), "DELETE FROM idempotency_keys"); err != nil {
			t.Fatal(err)
		}
		n++
		key := fmt.Sprintf("body-%d", n)
		hdr := map[string]string{"Idempotency-Key": key}
		what := fmt.Sprintf("body %q", body)

		before := fs.rows(t)
		first := fs.send(http.MethodPost, "/v1/customers", body, hdr)
		recorded := fs.keyRecorded(t, key)
		if first.Status >= 300 {
			// A refusal writes nothing but the key's record (its final answer), if any.
			typedError(t, what, first)
			want := tableRows(t, before)
			if recorded {
				want["idempotency_keys"]++
			}
			if got := tableRows(t, fs.rows(t)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: refused with %d, but rows\nwant %v\ngot  %v", what, first.Status, want, got)
			}
		} else if !recorded {
			t.Fatalf("%s: answered %d without recording the key: %s", what, first.Status, first.Body)
		}

		if same, ok := reencode(body); ok && utf8.ValidString(body) {
			mark := fs.rows(t)
			again := fs.send(http.MethodPost, "/v1/customers", same, hdr)
			if recorded {
				if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
					t.Fatalf("%s: the same value as %q answered %d %s (replayed %q), first %d %s",
						what, same, again.Status, again.Body, again.Header.Get("Idempotent-Replayed"), first.Status, first.Body)
				}
				if now := fs.rows(t); now != mark {
					t.Fatalf("%s: the replay wrote rows:\nbefore %s\nafter  %s", what, mark, now)
				}
			} else {
				fs.checkRefusal(t, what+" again as "+same, again, mark)
				if again.Status != first.Status {
					t.Fatalf("%s: refused with %d before the key was claimed, the same value as %q answered %d: %s", what, first.Status, same, again.Status, again.Body)
				}
			}
		}

		if recorded {
			mark := fs.rows(t)
			other := "[" + body + "]"
			r := fs.send(http.MethodPost, "/v1/customers", other, hdr)
			if code := fs.checkRefusal(t, what+" then "+other, r, mark); r.Status != http.StatusConflict || code != "idempotency_key_reused" {
				t.Fatalf("%s: another value %q under the same key answered %d %s, want 409 idempotency_key_reused", what, other, r.Status, r.Body)
			}
		}
	})
}
