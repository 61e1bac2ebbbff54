package codec

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"payorch/ids"
)

// customer is customer data of the kind payorch's workflows carry.
type customer struct {
	Name  string
	Email string
}

func greetWorkflow(ctx workflow.Context, c customer) (string, error) {
	return "receipt for " + c.Name + " <" + c.Email + ">", nil
}

func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func mustCodec(t *testing.T, keys string) *Codec {
	t.Helper()
	ks, err := ParseKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(ks)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEncryptedHistoryAndCodecServer runs a workflow through a client with the codec on,
// against the Temporal dev server: the workflow works, the raw history (read by a client
// without the codec, as the server and the Web UI see it) holds no plaintext, only
// "binary/encrypted" payloads naming the key, and the codec server decodes them for an
// operator who sends its token.
func TestEncryptedHistoryAndCodecServer(t *testing.T) {
	k2 := newKey(t)
	c := mustCodec(t, "k2:"+k2)
	cl, err := client.Dial(client.Options{HostPort: env.TemporalAddress, DataConverter: c.DataConverter()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	queue := "test-codec-" + ids.New("q")
	w := worker.New(cl, queue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx := context.Background()
	run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, greetWorkflow, customer{Name: "Ada Lovelace", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "receipt for Ada Lovelace <ada@example.com>" {
		t.Fatalf("workflow result %q, %v", out, err)
	}

	// The history as stored: read with a client that has no codec.
	var raw []*commonpb.Payload
	it := env.Temporal.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()...)
		raw = append(raw, ev.GetWorkflowExecutionCompletedEventAttributes().GetResult().GetPayloads()...)
	}
	if len(raw) != 2 {
		t.Fatalf("%d payloads in the history, want the input and the result", len(raw))
	}
	for _, p := range raw {
		if bytes.Contains(p.GetData(), []byte("ada@example.com")) || bytes.Contains(p.GetData(), []byte("Lovelace")) {
			t.Fatal("customer data is in the history in plaintext")
		}
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted || string(p.GetMetadata()[MetadataKeyID]) != "k2" {
			t.Fatalf("payload metadata %v", p.GetMetadata())
		}
	}

	// The codec server decodes them for the Web UI / CLI (with the token only).
	srv := httptest.NewServer(c.Handler("op-token", []string{"http://127.0.0.1:8233"}))
	defer srv.Close()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: raw})
	if err != nil {
		t.Fatal(err)
	}
	post := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, bad := range []string{"", "wrong"} {
		resp := post(bad)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("decode with token %q: %d", bad, resp.StatusCode)
		}
	}
	resp := post("op-token")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var decoded commonpb.Payloads
	if resp.StatusCode != http.StatusOK || protojson.Unmarshal(b, &decoded) != nil || len(decoded.Payloads) != 2 {
		t.Fatalf("decode: %d %s", resp.StatusCode, b)
	}
	if !bytes.Contains(decoded.Payloads[0].GetData(), []byte(`"Email":"ada@example.com"`)) ||
		string(decoded.Payloads[0].GetMetadata()["encoding"]) != "json/plain" {
		t.Fatalf("decoded input %s %v", decoded.Payloads[0].GetData(), decoded.Payloads[0].GetMetadata())
	}
	// The Web UI's preflight from its origin is allowed.
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight headers %v", pre.Header)
	}

	// Rotation: a new first key still decodes k2's payloads; without k2 they are refused.
	if _, err := mustCodec(t, "k3:"+newKey(t)+",k2:"+k2).Decode(raw); err != nil {
		t.Fatalf("rotated codec: %v", err)
	}
	if _, err := mustCodec(t, "k3:"+newKey(t)).Decode(raw); err == nil || !strings.Contains(err.Error(), `"k2"`) {
		t.Fatalf("a codec without k2 decoded: %v", err)
	}
	// Tampered ciphertext does not authenticate.
	bad := &commonpb.Payload{Metadata: raw[0].Metadata, Data: bytes.Clone(raw[0].Data)}
	bad.Data[len(bad.Data)-1] ^= 1
	if _, err := c.Decode([]*commonpb.Payload{bad}); err == nil {
		t.Fatal("a tampered payload decoded")
	}
}

// TestParseKeys refuses keys that are not 32 bytes, bad ids and duplicates, and never
// prints key material.
func TestParseKeys(t *testing.T) {
	k := newKey(t)
	if ks, err := ParseKeys(" a:" + k + " , b.2:" + k + " "); err != nil || len(ks) != 2 || ks[0].ID != "a" {
		t.Fatalf("%v %v", ks, err)
	}
	short := base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))
	for _, bad := range []string{"a:" + short, k, "a b:" + k, "a:" + k + ",a:" + k, "a:notbase64!"} {
		_, err := ParseKeys(bad)
		if err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		} else if strings.Contains(err.Error(), k) || strings.Contains(err.Error(), short) {
			t.Errorf("error prints the key: %v", err)
		}
	}
}
