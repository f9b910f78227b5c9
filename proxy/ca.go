package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// CA is the certificate authority of one network-mode session: its key
// lives in this process's memory only, and its certificate carries X.509
// name constraints that limit it to the hosts it intercepts, so that even
// with its key stolen it signs for nothing else (no other name, and no IP
// address). Leaf certificates are made on first use and cached per host.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	leafKey *ecdsa.PrivateKey
	pem     []byte
	hosts   map[string]bool

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// caLifetime is how long a session's CA and its leaves are valid: a
// session's key is gone when its process ends, so this only bounds a
// process that runs for months.
const caLifetime = 90 * 24 * time.Hour

// NewCA makes a fresh CA, with a new key, that can sign only for hosts.
func NewCA(hosts []string) (*CA, error) {
	if len(hosts) == 0 {
		return nil, errors.New("a CA needs at least one host to sign for")
	}
	set := map[string]bool{}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" || net.ParseIP(h) != nil || strings.ContainsAny(h, "*/: ") || !strings.Contains(h, ".") {
			return nil, fmt.Errorf("a CA signs for host names only, not %q", h)
		}
		set[h] = true
	}
	names := make([]string, 0, len(set))
	for h := range set {
		names = append(names, h)
	}
	slices.Sort(names)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	var id [8]byte
	rand.Read(id[:])
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"claude-secure"}, CommonName: "claude-secure session CA " + hex.EncodeToString(id[:])},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		// exactly these names: a DNS constraint permits a name and its
		// subdomains, so the subdomains are excluded again. Every IP
		// address is excluded, and email addresses and URIs are held to
		// a domain that cannot exist, so that no certificate it signs is
		// good for anything else. Server authentication only.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         names,
		ExcludedDNSDomains:          subdomains(names),
		ExcludedIPRanges: []*net.IPNet{
			{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		},
		PermittedEmailAddresses: []string{".invalid"},
		PermittedURIDomains:     []string{".invalid"},
		ExtKeyUsage:             []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{
		cert:    cert,
		key:     key,
		leafKey: leafKey,
		pem:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		hosts:   set,
		leaves:  map[string]*tls.Certificate{},
	}, nil
}

// subdomains turns each name into the constraint for its subdomains only.
func subdomains(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "." + n
	}
	return out
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// PEM is the CA's certificate, for clients to trust.
func (ca *CA) PEM() []byte { return ca.pem }

// Certificate is the CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Signs reports whether the CA signs for host.
func (ca *CA) Signs(host string) bool {
	return ca.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// Leaf returns the certificate the proxy shows a client for host, made
// on first use.
func (ca *CA) Leaf(host string) (*tls.Certificate, error) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !ca.hosts[host] {
		return nil, fmt.Errorf("the session CA does not sign for %s", host)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.leaves[host]; ok {
		return c, nil
	}
	c, err := ca.sign(host)
	if err != nil {
		return nil, err
	}
	ca.leaves[host] = c
	return c, nil
}

// sign makes a leaf for host (a name the CA's constraints permit: any
// other would be refused by every verifier).
func (ca *CA) sign(host string) (*tls.Certificate, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     ca.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &ca.leafKey.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: ca.leafKey, Leaf: leaf}, nil
}

// SignForTest signs a leaf for any name, ignoring the CA's own list: what
// a thief holding the key could make. Tests use it to show that verifiers
// refuse such a certificate.
func (ca *CA) SignForTest(host string) (*tls.Certificate, error) { return ca.sign(host) }
