package claudesecure

import (
	"errors"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"

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
	// bedrockHosts are where requests signed with the program's AWS
	// credentials may go (https only), and bedrockEndpoint another one
	// the program named
	bedrockHosts    []string
	bedrockEndpoint *url.URL
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
// client made over the unmasked body. Requests go only to the region's
// runtime endpoint over HTTPS (standard, FIPS or dual-stack), or to the
// one WithBedrockEndpoint names: the credentials are not sent elsewhere.
func WithBedrock(region string, creds aws.CredentialsProvider) Option {
	return Option{func(s *settings) error {
		p, err := proxy.Bedrock(proxy.BedrockOptions{Region: region, Credentials: creds})
		if err != nil {
			return errors.New("claudesecure: " + err.Error())
		}
		s.provider = p
		suffix := ".amazonaws.com"
		if strings.HasPrefix(region, "cn-") {
			suffix = ".amazonaws.com.cn"
		}
		s.bedrockHosts = []string{
			"bedrock-runtime." + region + suffix, "bedrock-runtime-fips." + region + suffix,
			"bedrock-runtime." + region + ".api.aws", "bedrock-runtime-fips." + region + ".api.aws",
		}
		return nil
	}}
}

// WithBedrockEndpoint is the one other place, besides the region's own
// endpoints, that requests signed by WithBedrock may go to (a VPC
// endpoint): its scheme and host; http only for a loopback address.
func WithBedrockEndpoint(raw string) Option {
	return Option{func(s *settings) error {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return errors.New("claudesecure: WithBedrockEndpoint needs an https URL")
		}
		if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("claudesecure: WithBedrockEndpoint needs an https URL (http only on a loopback address)")
		}
		s.bedrockEndpoint = &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}
		return nil
	}}
}

// mayGo says whether a request to u may be sent with the provider's
// credentials.
func (s *settings) mayGo(u *url.URL) bool {
	if s.bedrockHosts == nil {
		return true
	}
	if e := s.bedrockEndpoint; e != nil && strings.EqualFold(u.Scheme, e.Scheme) && strings.EqualFold(u.Host, e.Host) {
		return true
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	return strings.EqualFold(u.Scheme, "https") && (u.Port() == "" || u.Port() == "443") && slices.Contains(s.bedrockHosts, host)
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
