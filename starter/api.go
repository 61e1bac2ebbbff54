package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"payorch/config"
	"payorch/ids"
)

// apiClient calls payorch's HTTP API with one key: every support action the API offers
// goes through it, so the CLI holds no business rule of its own (the API validates,
// authorizes and answers).
type apiClient struct {
	base string
	key  string
	http *http.Client
}

// apiError is a non-2xx answer of the API, with its typed error body when it had one.
type apiError struct {
	Method, Path string
	Status       int
	Type, Code   string
	Message      string
	Param        string
}

// Error is one line: what was asked, the status and the API's own words.
func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Param != "" {
		msg += " (" + e.Param + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// newAPIClient reads PAYORCH_API_URL (default http:// + PAYORCH_HTTP_ADDR) and
// PAYORCH_API_KEY (default: the first key of PAYORCH_API_KEYS, as make run sets it).
func newAPIClient() (*apiClient, error) {
	base := os.Getenv("PAYORCH_API_URL")
	if base == "" {
		addr := os.Getenv("PAYORCH_HTTP_ADDR")
		if addr == "" {
			addr = config.DefaultHTTPAddr
		}
		base = "http://" + addr
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("PAYORCH_API_URL: %q is not an http(s) URL", base)
	}
	key := os.Getenv("PAYORCH_API_KEY")
	if key == "" {
		first, _, _ := strings.Cut(os.Getenv("PAYORCH_API_KEYS"), ",")
		if _, k, ok := strings.Cut(first, ":"); ok {
			key = strings.TrimSpace(k)
		}
	}
	if key == "" {
		return nil, errors.New("PAYORCH_API_KEY: no API key (set a support or backend key)")
	}
	// The longest answer is an invoice Update's (the API waits up to 60 s, then 202).
	return &apiClient{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Timeout: 90 * time.Second}}, nil
}

// do sends one request (a POST or PUT with a fresh Idempotency-Key) and returns the body of a
// 2xx answer and its status.
func (c *apiClient) do(ctx context.Context, method, path string, body any) (json.RawMessage, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		req.Header.Set("Idempotency-Key", ids.New("ctl"))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct {
			Error struct{ Type, Code, Message, Param string } `json:"error"`
		}
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			e.Type, e.Code, e.Message, e.Param = eb.Error.Type, eb.Error.Code, eb.Error.Message, eb.Error.Param
		} else {
			e.Message = strings.TrimSpace(string(raw))
			if len(e.Message) > 200 {
				e.Message = e.Message[:200] + "…"
			}
		}
		return nil, resp.StatusCode, e
	}
	return raw, resp.StatusCode, nil
}

// apiCommand is one support action the CLI reaches through the API.
type apiCommand struct {
	usage string
	help  string
	// prefixes are the id prefixes of the positional arguments, in order.
	prefixes []string
	// flags adds the command's flags; body builds the request body from them (nil: none).
	flags func(fs *flag.FlagSet) func() (any, error)
	// method and path build the request from the positional arguments.
	method string
	path   func(args []string) string
	// summary is the one-line human answer (the full JSON with --json).
	summary func(args []string, status int, v map[string]any) string
}

var apiCommands = map[string]apiCommand{
	"invoice": {
		usage: "invoice INVOICE_ID", help: "show an invoice (status, amounts, transactions, next retry)",
		prefixes: []string{"inv_"}, method: http.MethodGet,
		path:    func(a []string) string { return "/v1/invoices/" + a[0] },
		summary: invoiceSummary,
	},
	"retry": {
		usage: "retry INVOICE_ID", help: "manual retry: charge now and print the outcome",
		prefixes: []string{"inv_"}, method: http.MethodPost,
		path:    func(a []string) string { return "/v1/invoices/" + a[0] + "/retry" },
		summary: updateSummary("retry"),
	},
	"reconcile": {
		usage: "reconcile INVOICE_ID -amount 12.00 -reference REF [-paid-at RFC3339] [-method bank_transfer|manual]",
		help:  "record money received outside the PSP (a bank transfer)", prefixes: []string{"inv_"}, method: http.MethodPost,
		flags: func(fs *flag.FlagSet) func() (any, error) {
			amount := fs.String("amount", "", "amount received, a decimal string like 12.00 (required)")
			ref := fs.String("reference", "", "the transfer's reference (required)")
			paidAt := fs.String("paid-at", "", "when it was paid, RFC 3339 (omitted: the API decides)")
			method := fs.String("method", "", "bank_transfer (default) or manual")
			return func() (any, error) {
				if *amount == "" || *ref == "" {
					return nil, errors.New("reconcile needs -amount and -reference")
				}
				b := map[string]any{"amount": *amount, "reference": *ref}
				if *paidAt != "" {
					b["paid_at"] = *paidAt
				}
				if *method != "" {
					b["method"] = *method
				}
				return b, nil
			}
		},
		path:    func(a []string) string { return "/v1/invoices/" + a[0] + "/reconcile" },
		summary: updateSummary("reconcile"),
	},
	"void": {
		usage: "void INVOICE_ID [-reason TEXT]", help: "void an unpaid invoice (backend key)", prefixes: []string{"inv_"}, method: http.MethodPost,
		flags: func(fs *flag.FlagSet) func() (any, error) {
			reason := fs.String("reason", "", "why the invoice is voided (stored on it)")
			return func() (any, error) {
				if *reason == "" {
					return nil, nil
				}
				return map[string]any{"reason": *reason}, nil
			}
		},
		path:    func(a []string) string { return "/v1/invoices/" + a[0] + "/void" },
		summary: updateSummary("void"),
	},
	"reactivate": {
		usage: "reactivate SUBSCRIPTION_ID", help: "reactivate an errored subscription (its open invoices are retried)",
		prefixes: []string{"sub_"}, method: http.MethodPost,
		path:    func(a []string) string { return "/v1/subscriptions/" + a[0] + "/reactivate" },
		summary: objectSummary("reactivate"),
	},
	"cancel": {
		usage: "cancel SUBSCRIPTION_ID", help: "cancel a subscription", prefixes: []string{"sub_"}, method: http.MethodPost,
		path:    func(a []string) string { return "/v1/subscriptions/" + a[0] + "/cancel" },
		summary: objectSummary("cancel"),
	},
	"revert": {
		usage: "revert WALLET_ID TRANSACTION_ID", help: "revert a wallet top-up (the reverting transaction is printed)",
		prefixes: []string{"wal_", "wtx_"}, method: http.MethodPost,
		path:    func(a []string) string { return "/v1/wallets/" + a[0] + "/transactions/" + a[1] + "/revert" },
		summary: objectSummary("revert"),
	},
	"portal": {
		usage: "portal CUSTOMER_ID", help: "print a signed link to the customer's portal (a new portal session; backend key)",
		prefixes: []string{"cus_"}, method: http.MethodPost,
		path: func(a []string) string { return "/v1/customers/" + a[0] + "/portal-sessions" },
		summary: func(_ []string, _ int, v map[string]any) string {
			return fmt.Sprintf("%s\nportal session %s for %s, valid until %s (revoke: DELETE /v1/portal-sessions/%s)",
				str(v, "url"), str(v, "id"), str(v, "customer_id"), str(v, "expires_at"), str(v, "id"))
		},
	},
	"redeliver": {
		usage: "redeliver DELIVERY_ID", help: "send a webhook delivery again now", prefixes: []string{"whd_"}, method: http.MethodPost,
		path:    func(a []string) string { return "/v1/webhook-deliveries/" + a[0] + "/retry" },
		summary: objectSummary("redeliver"),
	},
}

// runAPICommand parses one API command's arguments, sends its request and prints the
// answer: the API's JSON with jsonOut, else one human line.
func runAPICommand(ctx context.Context, name string, args []string, jsonOut bool, out io.Writer) error {
	cmd := apiCommands[name]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var body func() (any, error)
	if cmd.flags != nil {
		body = cmd.flags(fs)
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%s: %w (usage: payorchctl %s)", name, err, cmd.usage)
	}
	if len(pos) != len(cmd.prefixes) {
		return fmt.Errorf("%s: %d argument(s) expected (usage: payorchctl %s)", name, len(cmd.prefixes), cmd.usage)
	}
	for i, p := range cmd.prefixes {
		if !strings.HasPrefix(pos[i], p) || strings.ContainsAny(pos[i], "/?#% ") {
			return fmt.Errorf("%s: %q is not an id like %s… (usage: payorchctl %s)", name, pos[i], p, cmd.usage)
		}
	}
	var b any
	if body != nil {
		if b, err = body(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	c, err := newAPIClient()
	if err != nil {
		return err
	}
	raw, status, err := c.do(ctx, cmd.method, cmd.path(pos), b)
	if err != nil {
		return err
	}
	if jsonOut {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("%s: the API's answer is not JSON: %w", name, err)
		}
		buf.WriteByte('\n')
		_, err := out.Write(buf.Bytes())
		return err
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("%s: the API's answer is not a JSON object: %w", name, err)
	}
	_, err = fmt.Fprintln(out, cmd.summary(pos, status, v))
	return err
}

func str(v map[string]any, k string) string {
	switch x := v[k].(type) {
	case string:
		return x
	case nil:
		return "-"
	default:
		return fmt.Sprint(x)
	}
}

func invoiceSummary(_ []string, _ int, v map[string]any) string {
	return fmt.Sprintf("%s: status %s, due %s, paid %s %s, customer %s", str(v, "id"), str(v, "status"),
		str(v, "amount_due"), str(v, "amount_paid"), str(v, "currency"), str(v, "customer_id"))
}

func updateSummary(verb string) func([]string, int, map[string]any) string {
	return func(a []string, status int, v map[string]any) string {
		if status == http.StatusAccepted {
			return fmt.Sprintf("%s %s: accepted, outcome not known yet (%s); see: payorchctl invoice %s", verb, a[0], str(v, "message"), a[0])
		}
		line := fmt.Sprintf("%s %s: invoice %s, payment %s, due %s, paid %s", verb, a[0], str(v, "invoice_status"),
			str(v, "payment_status"), str(v, "amount_due"), str(v, "amount_paid"))
		if tx, ok := v["transaction"].(map[string]any); ok {
			line += fmt.Sprintf("; transaction %s attempt %s %s", str(tx, "id"), str(tx, "attempt"), str(tx, "status"))
			if et := str(tx, "error_type"); et != "-" {
				line += " (" + et + ")"
			}
		}
		return line
	}
}

func objectSummary(verb string) func([]string, int, map[string]any) string {
	return func(a []string, _ int, v map[string]any) string {
		return fmt.Sprintf("%s %s: %s %s, status %s", verb, strings.Join(a, " "), str(v, "object"), str(v, "id"), str(v, "status"))
	}
}

// parseInterleaved parses flags that may come before, between or after the positional
// arguments (retry inv_1 --json, reconcile inv_1 -amount 5) and returns the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
