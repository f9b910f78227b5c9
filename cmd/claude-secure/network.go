package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/claude-secure/claude-secure/proxy"
	"github.com/claude-secure/claude-secure/shellwrap"
)

// bedrockRegions are the regions whose Bedrock runtime endpoints network
// mode intercepts (besides the session's own AWS_REGION): the session CA
// can sign for these names and no others.
var bedrockRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-gov-east-1", "us-gov-west-1",
	"ca-central-1", "ca-west-1", "mx-central-1", "sa-east-1",
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"il-central-1", "me-central-1", "me-south-1", "af-south-1",
	"ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
	"cn-north-1", "cn-northwest-1",
}

// bedrockChinaRegions are the regions whose endpoints end in .com.cn.
var bedrockChinaRegions = []string{"cn-north-1", "cn-northwest-1"}

// bedrockHosts are the names of region's Bedrock runtime endpoint: the
// standard one first, then FIPS and dual-stack.
func bedrockHosts(region string) []string {
	suffix := ".amazonaws.com"
	if slices.Contains(bedrockChinaRegions, region) {
		suffix = ".amazonaws.com.cn"
	}
	return []string{
		"bedrock-runtime." + region + suffix,
		"bedrock-runtime-fips." + region + suffix,
		"bedrock-runtime." + region + ".api.aws",
		"bedrock-runtime-fips." + region + ".api.aws",
	}
}

// vertexRegions are the Vertex AI regions whose endpoints network mode
// intercepts (besides the session's own CLOUD_ML_REGION).
var vertexRegions = []string{
	"global", "us", "eu",
	"us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west4",
	"northamerica-northeast1", "southamerica-east1",
	"europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9",
	"europe-north1", "europe-southwest1", "europe-central2",
	"asia-east1", "asia-east2", "asia-northeast1", "asia-northeast3", "asia-south1", "asia-southeast1", "asia-southeast2",
	"australia-southeast1", "me-central1", "me-central2", "me-west1",
}

const anthropicHost = "api.anthropic.com"

// network is what network mode serves: the hosts it intercepts, and the
// masking pipeline of each.
type network struct {
	hosts []string
	// own are the hosts the session's provider answers on; extra are
	// hosts of the configuration (intercept_hosts) that speak the
	// Anthropic API
	own, extra map[string]bool
	// prefixes are the API's paths on the own hosts (a gateway's base URL
	// path, Vertex AI's /v1)
	prefixes map[string]string
	// anthropicUp is where api.anthropic.com's requests go when the
	// session's provider is another
	anthropicUp *url.URL
	// bedrockSelf are Bedrock endpoints whose requests go to themselves
	// (or where AWS_ENDPOINT_URL_BEDROCK_RUNTIME says), signed by the
	// session when it is a Bedrock one
	bedrockSelf map[string]*url.URL
	t           *target
	opts        proxy.Options
}

// networkPlan decides what network mode intercepts for the target t, and
// with which options each pipeline runs.
func (f *factory) networkPlan(t *target, opts proxy.Options) (*network, error) {
	cfg, err := f.configFile()
	if err != nil {
		return nil, err
	}
	n := &network{own: map[string]bool{}, extra: map[string]bool{}, prefixes: map[string]string{}, bedrockSelf: map[string]*url.URL{}, t: t, opts: opts}
	set := map[string]bool{anthropicHost: true}
	for _, r := range bedrockRegions {
		for _, h := range bedrockHosts(r) {
			set[h] = true
		}
	}
	// a Bedrock endpoint the AWS SDKs are told to use instead (a VPC
	// endpoint): intercepted, or the child would tunnel to it unmasked
	for _, v := range []string{"AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"} {
		raw := f.Getenv(v)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil || u.Port() != "" && u.Port() != "443" {
			return nil, withHint(fmt.Errorf("%s is not an https:// URL with a host name on port 443: network mode could not mask what is sent there", v),
				"unset "+v+" (with CLAUDE_CODE_USE_BEDROCK=1, --upstream or ANTHROPIC_BEDROCK_BASE_URL name where Bedrock requests go)")
		}
		h := strings.ToLower(u.Hostname())
		set[h] = true
		n.bedrockSelf[h] = &url.URL{Scheme: "https", Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}
	}
	for _, r := range vertexRegions {
		if h, ok := proxy.VertexHost(r); ok {
			set[h] = true
		}
	}
	switch t.provider.Name() {
	case "anthropic":
		n.own[anthropicHost] = true
	case "bedrock":
		if r := f.Getenv("AWS_REGION"); r != "" {
			hosts := bedrockHosts(r)
			n.own[hosts[0]] = true
			for _, h := range hosts[1:] {
				// the FIPS and dual-stack names are answered by themselves
				set[h] = true
				n.bedrockSelf[h] = &url.URL{Scheme: "https", Host: h}
			}
		}
	case "vertex":
		if h, ok := proxy.VertexHost(strings.TrimSpace(f.Getenv("CLOUD_ML_REGION"))); ok {
			n.own[h] = true
			n.prefixes[h] = "/v1" // the API's version, in the base URL run gives
		}
	}
	if t.upstream.Scheme == "https" && net.ParseIP(t.upstream.Hostname()) == nil {
		h := strings.ToLower(t.upstream.Hostname())
		n.own[h] = true
		n.prefixes[h] = strings.TrimSuffix(t.upstream.Path, "/")
	}
	// the child's base URL variables are unset (childNetworkEnv): it
	// reaches api.anthropic.com, which goes where ANTHROPIC_BASE_URL says
	if t.provider.Name() == "anthropic" {
		n.anthropicUp = t.upstream
	} else if n.anthropicUp, err = f.upstream(""); err != nil {
		return nil, err
	}
	for _, h := range cfg.InterceptHosts {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		if h == "" || strings.ContainsAny(h, "/:*@ ") || net.ParseIP(h) != nil {
			return nil, usagef("intercept_hosts: %q is not a host name", h)
		}
		if !n.own[h] {
			n.extra[h] = true
		}
	}
	for h := range n.own {
		set[h] = true
	}
	for h := range n.extra {
		set[h] = true
	}
	for h := range set {
		n.hosts = append(n.hosts, h)
	}
	slices.Sort(n.hosts)
	return n, nil
}

// route returns the masking pipeline for an intercepted host, and the
// path the API is under there.
func (n *network) route(host string) (*proxy.Handler, string, error) {
	o := n.opts
	prefix := n.prefixes[host]
	switch {
	case n.own[host]:
		o.Provider, o.Upstream = n.t.provider, n.t.upstream
	case n.bedrockSelf[host] != nil && n.t.provider.Name() == "bedrock":
		o.Provider, o.Upstream = n.t.provider, n.bedrockSelf[host]
		prefix = n.bedrockSelf[host].Path
	case host == anthropicHost:
		o.Provider, o.Upstream = proxy.Anthropic(), n.anthropicUp
	case n.extra[host]:
		o.Provider, o.Upstream = proxy.Anthropic(), &url.URL{Scheme: "https", Host: host}
	case strings.HasPrefix(host, "bedrock-runtime") || n.bedrockSelf[host] != nil:
		return nil, "", fmt.Errorf("this session does not sign Bedrock requests for %s (it signs for the region in AWS_REGION, with CLAUDE_CODE_USE_BEDROCK=1)", host)
	default:
		return nil, "", fmt.Errorf("this session does not send Vertex AI requests to %s (it uses the region in CLOUD_ML_REGION, with CLAUDE_CODE_USE_VERTEX=1)", host)
	}
	h, err := proxy.NewHandler(o)
	return h, prefix, err
}

// networkFiles are the session CA's certificate, and a bundle of the
// system's roots with it, written for the child: 0600, in a directory of
// their own that is removed when the session ends.
type networkFiles struct {
	dir, ca, bundle string
	// node is what NODE_EXTRA_CA_CERTS names: the CA, and the
	// certificates the parent's NODE_EXTRA_CA_CERTS named
	node string
	// noRoots is set when no system roots were found for the bundle
	noRoots bool
}

// systemRootFiles are where Linux and the BSDs keep their roots, as Go
// looks for them.
var systemRootFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
	"/usr/local/etc/ssl/cert.pem",
	"/usr/local/share/certs/ca-root-nss.crt",
}

// writeNetworkFiles writes the CA files into dir (made 0700 if needed).
func (f *factory) writeNetworkFiles(dir string, ca *proxy.CA) (*networkFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	nf := &networkFiles{dir: dir, ca: filepath.Join(dir, "ca.pem"), bundle: filepath.Join(dir, "ca-bundle.pem")}
	nf.node = nf.ca
	var roots []byte
	// the roots the user's tools trust already (a company's bundle), else
	// the system's
	files := systemRootFiles
	for _, v := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"} {
		if p := f.Getenv(v); p != "" {
			files = []string{p}
			break
		}
	}
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			roots = b
			break
		}
	}
	nf.noRoots = roots == nil
	if len(roots) > 0 && roots[len(roots)-1] != '\n' {
		roots = append(roots, '\n')
	}
	if err := os.WriteFile(nf.ca, ca.PEM(), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(nf.bundle, append(roots, ca.PEM()...), 0o600); err != nil {
		return nil, err
	}
	if p := f.Getenv("NODE_EXTRA_CA_CERTS"); p != "" {
		// Node reads one file: the parent's extra certificates stay in it
		extra, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("NODE_EXTRA_CA_CERTS names a file that cannot be read: %w", err)
		}
		if len(extra) > 0 && extra[len(extra)-1] != '\n' {
			extra = append(extra, '\n')
		}
		nf.node = filepath.Join(dir, "node-ca.pem")
		if err := os.WriteFile(nf.node, append(extra, ca.PEM()...), 0o600); err != nil {
			return nil, err
		}
	}
	return nf, nil
}

// networkEnv is what a process needs to go through network mode: the
// proxy (with the session's credentials) for HTTPS and HTTP, the session
// CA for Node (NODE_EXTRA_CA_CERTS adds it to Node's roots) and a bundle
// of the system's roots with it for OpenSSL, Python and curl. Git keeps
// its own roots (GIT_SSL_CAINFO is left alone): it is never intercepted.
func networkEnv(proxyURL string, nf *networkFiles) []string {
	return []string{
		"HTTPS_PROXY=" + proxyURL, "https_proxy=" + proxyURL,
		"HTTP_PROXY=" + proxyURL, "http_proxy=" + proxyURL,
		"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1",
		"NODE_EXTRA_CA_CERTS=" + nf.node,
		"SSL_CERT_FILE=" + nf.bundle, "REQUESTS_CA_BUNDLE=" + nf.bundle, "CURL_CA_BUNDLE=" + nf.bundle,
	}
}

// baseURLVars are the variables that point Claude Code (and the SDKs) at
// another endpoint. A child in network mode does not get them: it reaches
// the provider's own endpoint, which the proxy intercepts and sends where
// they said. (Kept, an http:// one would go around the masking.)
var baseURLVars = []string{"ANTHROPIC_BASE_URL", "ANTHROPIC_BEDROCK_BASE_URL", "ANTHROPIC_VERTEX_BASE_URL"}

// childNetworkEnv is the parent's environment with network mode in it,
// without the base URL variables; the child's authentication to Bedrock
// or Vertex is left to the proxy as in run.
func childNetworkEnv(parent []string, t *target, proxyURL string, nf *networkFiles, disableNonessential bool) []string {
	set := append(networkEnv(proxyURL, nf), "CLAUDE_SECURE=1")
	if t.skipAuth != "" {
		set = append(set, t.skipAuth+"=1")
	}
	set = append(set, t.env...)
	return mergeEnv(parent, set, baseURLVars, disableNonessential)
}

// startNetwork starts network mode for the session at addr: the CA, the
// files for clients in dir, and the proxy.
func (f *factory) startNetwork(ps *proxySession, addr, dir string) (*proxy.Network, *networkFiles, error) {
	plan, err := f.networkPlan(ps.t, proxy.Options{
		Engine:     ps.engine,
		Audit:      auditLogger(ps.audit),
		AllowPaths: ps.allowPaths,
		Batches:    ps.store,
	})
	if err != nil {
		return nil, nil, err
	}
	ca, err := proxy.NewCA(plan.hosts)
	if err != nil {
		return nil, nil, err
	}
	nf, err := f.writeNetworkFiles(dir, ca)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("failed to write the session CA: %w", err)
	}
	n, err := proxy.NewNetwork(proxy.NetworkOptions{Addr: addr, CA: ca, Route: plan.route})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	n.Start()
	return n, nf, nil
}

// networkBanner is the line network mode starts with, and a note when the
// bundle for OpenSSL, Python and curl holds no system roots.
func networkBanner(ui *ui, ps *proxySession, n *proxy.Network, nf *networkFiles) {
	ui.banner(n.Addr(), "model endpoints (network mode)", ps.dir, keySourceText(ps.key.Source))
	if nf.noRoots {
		ui.note("no system roots found for " + nf.bundle + ": it holds the session CA only")
	}
}

// stopNetwork closes the proxy and removes the CA's files.
func stopNetwork(ctx context.Context, n *proxy.Network, nf *networkFiles) error {
	err := n.Shutdown(ctx)
	if rerr := os.RemoveAll(nf.dir); rerr != nil && err == nil {
		err = rerr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return err
}

// runNetwork is run --network: the child reaches the model endpoints
// through a forward proxy that masks them, whatever base URL it uses.
func runNetwork(ctx context.Context, opts *runOptions, ui *ui, child shellwrap.Command) error {
	f := opts.f
	if _, serr := shellwrap.Find(opts.argv[0]); serr != nil {
		return childExit(serr.Code, serr)
	}
	ps, err := f.proxySession(ctx, opts.upstream)
	if err != nil {
		return err
	}
	defer ps.audit.Close()
	caDir, err := os.MkdirTemp(ps.dir, "network-")
	if err != nil {
		return fmt.Errorf("failed to make the session CA's directory: %w", err)
	}
	n, nf, err := f.startNetwork(ps, "", caDir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(caDir) // also when the child cannot run
	if !opts.quiet {
		networkBanner(ui, ps, n, nf)
	}
	child.Env = childNetworkEnv(os.Environ(), ps.t, n.URL(), nf, !opts.allowNonessential)
	return superviseChild(ctx, opts, ui, child, n.Stats, func(ctx context.Context) error { return stopNetwork(ctx, n, nf) })
}
