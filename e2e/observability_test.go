package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"payorch/contracts"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestWorkerMetricsAndEncryptedHistory runs the worker binary with its metrics endpoint,
// payload encryption and its codec server on: a declined invoice payment is counted by
// outcome and error_type in the worker's /metrics next to the Temporal SDK's own metrics;
// the activity payloads the worker wrote into the workflow history are ciphertext; the
// worker's codec server decodes them for an operator with the token.
func TestWorkerMetricsAndEncryptedHistory(t *testing.T) {
	metricsAddr, codecAddr := freeAddr(t), freeAddr(t)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, "1h,1h,1h", "PAYORCH_WORKER_METRICS_ADDR="+metricsAddr,
		"PAYORCH_PAYLOAD_KEYS=ops1:"+base64.StdEncoding.EncodeToString(key), "PAYORCH_CODEC_ADDR="+codecAddr, "PAYORCH_CODEC_AUTH=op-token")
	s.startWorker()
	cust := s.newCustomer("Grace", "pm_card_chargeDeclinedInsufficientFunds")
	var inv map[string]any
	if code := s.call("POST", "/v1/invoices", map[string]any{"customer_id": cust,
		"lines": []map[string]any{{"description": "Plan", "amount": "9.00"}}}, &inv); code != 201 {
		t.Fatalf("create invoice: %d %v", code, inv)
	}
	invID := inv["id"].(string)
	s.until("a failed attempt", time.Minute, func() bool {
		return s.scalar(`SELECT count(*) FROM invoice_transactions WHERE invoice_id = $1 AND status = 'failed'`, invID) == 1
	})
	var errorType string
	if err := s.pool.QueryRow(context.Background(), `SELECT error_type FROM invoice_transactions WHERE invoice_id = $1`, invID).Scan(&errorType); err != nil {
		t.Fatal(err)
	}
	url := "http://" + metricsAddr + "/metrics"
	sample := `payorch_payments_total{error_type="` + errorType + `",outcome="failed"}`
	s.until(sample+" in the worker's /metrics", 30*time.Second, func() bool { return scrapeCounter(t, url, sample) == 1 })
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"temporal_workflow_task_execution_latency_seconds_bucket", "temporal_activity_execution_latency_seconds_bucket",
		`payorch_events_total{type="invoice.transaction_failed"} 1`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the worker's /metrics has no %s", want)
		}
	}

	// The history as the server stores it: the worker's activity payloads are encrypted.
	var raw []*commonpb.Payload
	it := env.Temporal.GetWorkflowHistory(context.Background(), contracts.InvoicePaymentWorkflowID(invID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, ev.GetActivityTaskScheduledEventAttributes().GetInput().GetPayloads()...)
		raw = append(raw, ev.GetActivityTaskCompletedEventAttributes().GetResult().GetPayloads()...)
	}
	if len(raw) < 2 {
		t.Fatalf("%d activity payloads in the history", len(raw))
	}
	for _, p := range raw {
		if string(p.GetMetadata()["encoding"]) != "binary/encrypted" || string(p.GetMetadata()["encryption-key-id"]) != "ops1" ||
			bytes.Contains(p.GetData(), []byte(invID)) {
			t.Fatalf("an activity payload is not encrypted: %v %q", p.GetMetadata(), p.GetData())
		}
	}
	reqBody, _ := protojson.Marshal(&commonpb.Payloads{Payloads: raw})
	req, _ := http.NewRequest(http.MethodPost, "http://"+codecAddr+"/decode", bytes.NewReader(reqBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer op-token")
	dresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dbody, _ := io.ReadAll(dresp.Body)
	dresp.Body.Close()
	var decoded commonpb.Payloads
	if dresp.StatusCode != http.StatusOK || protojson.Unmarshal(dbody, &decoded) != nil {
		t.Fatalf("codec server: %d %s", dresp.StatusCode, dbody)
	}
	var all strings.Builder
	for _, p := range decoded.Payloads {
		all.Write(p.GetData())
	}
	if !strings.Contains(all.String(), invID) {
		t.Fatalf("the decoded payloads do not name the invoice: %s", all.String())
	}
}
