package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
)

const dunningUsage = "dunning get | dunning set --default 2h,12h,24h [--type processing_error=15m,1h,6h ...]"

// typeSchedules collects repeated --type error_type=delay,delay flags.
type typeSchedules map[string][]string

func (t typeSchedules) String() string { return fmt.Sprint(map[string][]string(t)) }

func (t typeSchedules) Set(v string) error {
	typ, delays, ok := strings.Cut(v, "=")
	typ = strings.TrimSpace(typ)
	if !ok || typ == "" || strings.TrimSpace(delays) == "" {
		return fmt.Errorf("--type %q is not error_type=delay,delay (like processing_error=15m,1h,6h)", v)
	}
	if _, dup := t[typ]; dup {
		return fmt.Errorf("--type %s given twice", typ)
	}
	t[typ] = splitDelays(delays)
	return nil
}

func splitDelays(s string) []string {
	out := []string{}
	for _, d := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(d))
	}
	return out
}

// runDunning shows (get) or replaces (set, backend key) the dunning policy through the
// API, which validates it; the answer says that a change applies to workflows started
// from now on.
func runDunning(ctx context.Context, args []string, jsonOut bool, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("dunning: get or set expected (usage: payorchctl %s)", dunningUsage)
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("dunning "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var method string
	var body any
	switch sub {
	case "get":
		if err := fs.Parse(rest); err != nil || fs.NArg() != 0 {
			return fmt.Errorf("dunning get takes no arguments (usage: payorchctl %s)", dunningUsage)
		}
		method = http.MethodGet
	case "set":
		def := fs.String("default", "", "the default schedule: delays like 2h,12h,24h (required)")
		types := typeSchedules{}
		fs.Var(types, "type", "an error type's own schedule, error_type=delay,delay (repeatable)")
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("dunning set: %w (usage: payorchctl %s)", err, dunningUsage)
		}
		if fs.NArg() != 0 {
			return fmt.Errorf("dunning set: unexpected %q (usage: payorchctl %s)", fs.Arg(0), dunningUsage)
		}
		if strings.TrimSpace(*def) == "" {
			return fmt.Errorf("dunning set needs --default (the whole policy is replaced; usage: payorchctl %s)", dunningUsage)
		}
		method, body = http.MethodPut, map[string]any{"default": splitDelays(*def), "by_error_type": map[string][]string(types)}
	default:
		return fmt.Errorf("dunning: %q is not get or set (usage: payorchctl %s)", sub, dunningUsage)
	}
	c, err := newAPIClient()
	if err != nil {
		return err
	}
	raw, _, err := c.do(ctx, method, "/v1/settings/dunning", body)
	if err != nil {
		return err
	}
	if jsonOut {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("dunning: the API's answer is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := out.Write(buf.Bytes())
		return err
	}
	var p struct {
		Default     []string            `json:"default"`
		ByErrorType map[string][]string `json:"by_error_type"`
		Source      string              `json:"source"`
		UpdatedAt   *string             `json:"updated_at"`
		AppliesTo   string              `json:"applies_to"`
		FixedRules  map[string]string   `json:"fixed_rules"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("dunning: the API's answer is not a policy: %w", err)
	}
	head := "dunning policy from " + p.Source
	if p.UpdatedAt != nil {
		head += ", set " + *p.UpdatedAt
	}
	fmt.Fprintln(out, head)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  default\t%s\n", strings.Join(p.Default, ", "))
	types := make([]string, 0, len(p.ByErrorType))
	for t := range p.ByErrorType {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(tw, "  %s\t%s\n", t, strings.Join(p.ByErrorType[t], ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fixed := make([]string, 0, len(p.FixedRules))
	for t := range p.FixedRules {
		fixed = append(fixed, t)
	}
	sort.Strings(fixed)
	fmt.Fprintf(out, "fixed rules (hard declines wait for a new payment method, fraud is never retried): %s\n", strings.Join(fixed, ", "))
	if method == http.MethodPut {
		fmt.Fprintln(out, "applies to "+p.AppliesTo)
	}
	return nil
}
