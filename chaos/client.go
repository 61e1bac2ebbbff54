package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// merchant is a merchant backend that misbehaves: a quarter of its first tries hang up after
// 1 to 40 ms, and it sends every request again with the same Idempotency-Key and body
// until it gets a final answer (the API may be down, restarting or waiting on a dead
// worker meanwhile).
type merchant struct {
	base string
	http *http.Client

	mu  sync.Mutex
	rng *rand.Rand

	requests, hangups, retries atomic.Int64
}

func newClient(base string, seed uint64) *merchant {
	return &merchant{base: base, rng: rand.New(rand.NewPCG(seed, 13)),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, DisableKeepAlives: false}}}
}

func (c *merchant) intn(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.IntN(n)
}

// maxTries bounds the tries of one request (with the pauses below, several minutes).
const maxTries = 600

// do sends method path with key until the answer is final: not a hang-up, not a network
// error, not a 5xx, not 409 idempotency_key_in_use, and not 202 unless accept202. It
// returns the status and the decoded body.
func (c *merchant) do(ctx context.Context, method, path, key string, body any, accept202 bool) (int, map[string]any, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
	}
	for try := range maxTries {
		if try > 0 {
			c.retries.Add(1)
			select {
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			case <-time.After(time.Duration(20+c.intn(200)) * time.Millisecond):
			}
		}
		timeout := 90 * time.Second
		if key != "" && try == 0 && c.intn(4) == 0 {
			timeout = time.Duration(1+c.intn(40)) * time.Millisecond
			c.hangups.Add(1)
		}
		status, out, final := c.send(ctx, method, path, key, raw, timeout)
		if !final {
			continue
		}
		switch {
		case status >= 500:
		case status == http.StatusAccepted && !accept202:
		case status == http.StatusConflict && errCode(out) == "idempotency_key_in_use":
		default:
			return status, out, nil
		}
	}
	return 0, nil, fmt.Errorf("%s %s (key %q): no final answer after %d tries", method, path, key, maxTries)
}

// send sends one try; final is false when the client hung up or the network failed.
func (c *merchant) send(ctx context.Context, method, path, key string, raw []byte, timeout time.Duration) (int, map[string]any, bool) {
	c.requests.Add(1)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, false
	}
	req.Header.Set("Authorization", "Bearer "+backendKey)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, false
	}
	var out map[string]any
	if len(b) > 0 && json.Unmarshal(b, &out) != nil {
		out = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, out, true
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}
