// Package codec encrypts the payloads payorch writes into Temporal workflow histories
// (workflow and activity arguments and results, queries, updates: customer names, emails,
// amounts) with AES-256-GCM, so the Temporal cluster, or Temporal Cloud, stores only
// ciphertext. The key comes from the environment (PAYORCH_PAYLOAD_KEYS); each encrypted
// payload names its key id in its metadata, so keys can be rotated: the first key
// encrypts, every listed key decrypts. The Web UI shows such a payload as
// "binary/encrypted" unless it is pointed at the codec server (Handler), which decodes
// for operators.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	// MetadataEncoding is the standard metadata key of a payload's encoding.
	MetadataEncoding = "encoding"
	// EncodingEncrypted marks an encrypted payload (the Web UI shows it as is).
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
)

// Key is one AES-256 key and its id.
type Key struct {
	ID  string
	key []byte
}

// Codec is a converter.PayloadCodec that encrypts with its first key and decrypts with
// any of its keys; payloads it did not encrypt pass through Decode unchanged (histories
// written before encryption was turned on stay readable).
type Codec struct {
	keys []Key
	aead map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// ParseKeys parses "id:base64key,id2:base64key2": ids of 1 to 64 letters, digits, '-',
// '_' or '.', each key 32 bytes (AES-256) in standard or URL base64.
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, b64, ok := strings.Cut(item, ":")
		if !ok || !validID(id) {
			return nil, fmt.Errorf("%q is not id:base64key (an id of letters, digits, '-', '_' or '.')", redact(item))
		}
		raw, err := decodeBase64(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("key %q must be 32 bytes in base64 (openssl rand -base64 32)", id)
		}
		if slices.ContainsFunc(keys, func(k Key) bool { return k.ID == id }) {
			return nil, fmt.Errorf("key id %q is listed twice", id)
		}
		keys = append(keys, Key{ID: id, key: raw})
	}
	return keys, nil
}

// New returns a Codec over keys (at least one; the first encrypts).
func New(keys []Key) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("payload codec: no key")
	}
	c := &Codec{keys: keys, aead: map[string]cipher.AEAD{}}
	for _, k := range keys {
		block, err := aes.NewCipher(k.key)
		if err != nil {
			return nil, fmt.Errorf("payload codec: key %q: %w", k.ID, err)
		}
		g, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("payload codec: key %q: %w", k.ID, err)
		}
		c.aead[k.ID] = g
	}
	return c, nil
}

// FromEnv builds the Codec from PAYORCH_PAYLOAD_KEYS; nil (no encryption) when it is unset
// or empty.
func FromEnv() (*Codec, error) {
	keys, err := ParseKeys(os.Getenv("PAYORCH_PAYLOAD_KEYS"))
	if err != nil {
		return nil, fmt.Errorf("PAYORCH_PAYLOAD_KEYS: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return New(keys)
}

// DataConverter wraps Temporal's default data converter with the codec.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// Encode encrypts each payload (the whole payload, metadata included) with the first key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	k := c.keys[0]
	g := c.aead[k.ID]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("payload codec: marshal: %w", err)
		}
		nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plain)+g.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{MetadataEncoding: []byte(EncodingEncrypted), MetadataKeyID: []byte(k.ID)},
			Data:     g.Seal(nonce, nonce, plain, []byte(k.ID)),
		}
	}
	return out, nil
}

// Decode decrypts the payloads this codec (any of its keys) encrypted; others pass
// through. An encrypted payload whose key is unknown, or whose ciphertext does not
// authenticate, is an error (never silently shown as garbage).
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		g, ok := c.aead[id]
		if !ok {
			return payloads, fmt.Errorf("payload codec: payload encrypted with unknown key id %q", id)
		}
		data := p.GetData()
		if len(data) < g.NonceSize()+g.Overhead() {
			return payloads, errors.New("payload codec: encrypted payload too short")
		}
		plain, err := g.Open(nil, data[:g.NonceSize()], data[g.NonceSize():], []byte(id))
		if err != nil {
			return payloads, fmt.Errorf("payload codec: key %q: %w", id, err)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return payloads, fmt.Errorf("payload codec: unmarshal: %w", err)
		}
		out[i] = &dec
	}
	return out, nil
}

// Handler is the codec server for the Temporal Web UI and CLI (POST /encode, POST
// /decode, the SDK's converter.NewPayloadCodecHTTPHandler). token, when set, must come as
// "Authorization: Bearer <token>" (the CLI's --codec-auth, or the Web UI's access token);
// origins are the Web UI origins allowed by CORS (e.g. http://127.0.0.1:8233).
func (c *Codec) Handler(token string, origins []string) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && slices.Contains(origins, o) {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if token != "" {
			got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
		inner.ServeHTTP(w, r)
	})
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(strings.TrimSpace(s)); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// redact keeps a key out of an error message.
func redact(item string) string {
	if id, _, ok := strings.Cut(item, ":"); ok {
		return id + ":…"
	}
	if len(item) > 8 {
		return item[:4] + "…"
	}
	return item
}

// ServerConfig is where and how the worker serves the codec server.
type ServerConfig struct {
	// Addr is PAYORCH_CODEC_ADDR (empty: not served).
	Addr string
	// Token is PAYORCH_CODEC_AUTH: the bearer token a caller must send (empty: none; then
	// keep Addr on a private network, since the server decrypts for anyone who reaches it).
	Token string
	// Origins are PAYORCH_CODEC_CORS_ORIGINS (comma list; default the dev Web UI,
	// http://127.0.0.1:8233 and http://localhost:8233).
	Origins []string
}

// ServerConfigFromEnv reads the codec server's settings.
func ServerConfigFromEnv() ServerConfig {
	sc := ServerConfig{Addr: os.Getenv("PAYORCH_CODEC_ADDR"), Token: os.Getenv("PAYORCH_CODEC_AUTH")}
	origins := os.Getenv("PAYORCH_CODEC_CORS_ORIGINS")
	if origins == "" {
		origins = "http://127.0.0.1:8233,http://localhost:8233"
	}
	for o := range strings.SplitSeq(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			sc.Origins = append(sc.Origins, o)
		}
	}
	return sc
}
