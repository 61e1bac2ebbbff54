package app

import (
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"

	"payorch/codec"
	"payorch/config"
)

// TemporalOptions are the Temporal client's options for cfg: the SDK's environment
// configuration first (envconfig: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TEMPORAL_TLS_CLIENT_CERT_PATH/_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
// TEMPORAL_TLS_SERVER_NAME, TEMPORAL_PROFILE with TEMPORAL_CONFIG_FILE, …), so one
// process reaches a self-hosted cluster with mTLS or Temporal Cloud with an API key;
// PAYORCH_TEMPORAL_ADDRESS and PAYORCH_TEMPORAL_NAMESPACE, when set, win (and give the
// dev defaults when neither is set). With PAYORCH_PAYLOAD_KEYS, payloads are encrypted
// (the returned codec; nil without).
func TemporalOptions(cfg config.Config, log *slog.Logger) (client.Options, *codec.Codec, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{})
	if err != nil {
		return client.Options{}, nil, fmt.Errorf("temporal environment configuration (TEMPORAL_*): %w", err)
	}
	if _, set := os.LookupEnv("PAYORCH_TEMPORAL_ADDRESS"); set || opts.HostPort == "" {
		opts.HostPort = cfg.TemporalAddress
	}
	if _, set := os.LookupEnv("PAYORCH_TEMPORAL_NAMESPACE"); set || opts.Namespace == "" {
		opts.Namespace = cfg.TemporalNamespace
	}
	if log != nil {
		opts.Logger = tlog.NewStructuredLogger(log)
	}
	c, err := codec.FromEnv()
	if err != nil {
		return client.Options{}, nil, err
	}
	if c != nil {
		opts.DataConverter = c.DataConverter()
	}
	return opts, c, nil
}
