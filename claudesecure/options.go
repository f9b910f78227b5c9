package claudesecure

import (
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/proxy"
)

// An Option configures a Transport.
type Option struct{ apply func(*settings) error }

type settings struct {
	engine     *mask.Engine
	provider   proxy.Provider
	audit      *slog.Logger
	allowPaths []string
	batches    proxy.BatchStore
}

// WithEngine masks with e: its store holds the pseudonyms. NewTransport
// needs it; Open builds its own and refuses it.
func WithEngine(e *mask.Engine) Option {
	return Option{func(s *settings) error {
		if e == nil {
			return errors.New("claudesecure: WithEngine needs an engine")
		}
		s.engine = e
		return nil
	}}
}

// WithProvider sets the model provider behind the requests' hosts: the
// Anthropic API (proxy.Anthropic) by default, or proxy.Bedrock.
func WithProvider(p proxy.Provider) Option {
	return Option{func(s *settings) error {
		if p == nil {
			return errors.New("claudesecure: WithProvider needs a provider")
		}
		s.provider = p
		return nil
	}}
}

// WithBedrock is Amazon Bedrock's runtime API in region: each masked
// request is signed (SigV4) with creds, in place of the signature the
// client made over the unmasked body.
func WithBedrock(region string, creds aws.CredentialsProvider) Option {
	return Option{func(s *settings) error {
		p, err := proxy.Bedrock(proxy.BedrockOptions{Region: region, Credentials: creds})
		if err != nil {
			return errors.New("claudesecure: " + err.Error())
		}
		s.provider = p
		return nil
	}}
}

// WithAudit writes one line a request to l, as the proxy's audit log has
// them: names and counts, never a value. Open also tells it when the store
// key lives in a key file (no usable keyring), as a warning.
func WithAudit(l *slog.Logger) Option {
	return Option{func(s *settings) error {
		s.audit = l
		return nil
	}}
}

// WithAllowPaths lets request bodies go to these paths too, every string
// in them masked (Open adds the configuration file's allow_paths).
func WithAllowPaths(paths ...string) Option {
	return Option{func(s *settings) error {
		s.allowPaths = append(s.allowPaths, paths...)
		return nil
	}}
}
