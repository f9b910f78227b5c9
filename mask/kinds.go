package mask

// Kind identifies what a detector found. Kinds are reported by scan, counted
// in statistics and stored with each mapping; the pseudonym shape comes from
// the kind's family.
type Kind uint8

// family decides how a pseudonym is shaped.
type family uint8

const (
	famHex     family = iota // kept prefix, then lowercase hex digits
	famDigits                // decimal digits only (account IDs)
	famBase32                // kept prefix, then [A-Z2-7] (access key IDs)
	famBase64                // kept prefix, then [A-Za-z0-9+/], '=' kept
	famPattern               // letters stay letters (same case), digits stay digits, the rest is kept
	famIPv4                  // prefix-preserving, class-preserving IPv4 (and CIDR)
	famIPv6                  // prefix-preserving IPv6 text (and CIDR)
)

// familyName is part of the permutation tweak and of the store's forward
// index: the same original gets the same pseudonym within a family, so a
// bucket seen in an ARN and in a --bucket flag stay the same bucket.
var familyName = [...]string{
	famHex:     "hex",
	famDigits:  "digits",
	famBase32:  "base32",
	famBase64:  "base64",
	famPattern: "pattern",
	famIPv4:    "ipv4",
	famIPv6:    "ipv6",
}

// The kinds, in the order `claude-secure rules` lists them. Each has its
// entry in the table of rules.go.
const (
	KindResourceID Kind = iota
	KindEC2Instance
	KindAMI
	KindEBSVolume
	KindEBSSnapshot
	KindSecurityGroup
	KindSubnet
	KindVPC
	KindNetworkInterface
	KindAccountID
	KindARNResource
	KindAccessKeyID
	KindSecretAccessKey
	KindSessionToken
	KindBedrockKey
	KindAmzSignature
	KindIPv4
	KindIPv6
	KindAWSHostname
	KindS3Bucket
	KindResourceName
	KindTagName
	KindPrivateKey
	KindAnthropicKey
	KindGitHubToken
	KindSlackToken
	KindStripeKey
	KindGoogleAPIKey
	KindPassword
	KindIAMUniqueID
	KindKMSKey
	KindHostedZone
	KindAPIGateway
	KindLogGroup
	KindUserRule
	kindCount
)

// String returns the kind's name, e.g. "ec2-instance".
func (k Kind) String() string {
	if k < kindCount {
		return kinds[k].name
	}
	return "unknown"
}

func (k Kind) family() family { return kinds[k].family }

// KindByName returns the kind with the given name.
func KindByName(name string) (Kind, bool) {
	for i, ki := range kinds {
		if ki.name == name {
			return Kind(i), true
		}
	}
	return 0, false
}

// Kinds lists every built-in kind.
func Kinds() []Kind {
	out := make([]Kind, 0, kindCount)
	for k := Kind(0); k < kindCount; k++ {
		out = append(out, k)
	}
	return out
}

// resourcePrefixes maps the prefix of an AWS resource ID to its kind.
// Prefixes not listed here are still found when followed by exactly 17 hex
// digits (the long ID format), as KindResourceID.
var resourcePrefixes = map[string]Kind{
	"i": KindEC2Instance, "ami": KindAMI, "vol": KindEBSVolume, "snap": KindEBSSnapshot,
	"sg": KindSecurityGroup, "sgr": KindSecurityGroup, "subnet": KindSubnet, "vpc": KindVPC,
	"eni": KindNetworkInterface, "eni-attach": KindNetworkInterface,
	"igw": KindResourceID, "eigw": KindResourceID, "nat": KindResourceID, "rtb": KindResourceID,
	"rtbassoc": KindResourceID, "acl": KindResourceID, "aclassoc": KindResourceID,
	"eipalloc": KindResourceID, "eipassoc": KindResourceID, "pcx": KindResourceID,
	"tgw": KindResourceID, "tgw-attach": KindResourceID, "tgw-rtb": KindResourceID,
	"vpce": KindResourceID, "vpce-svc": KindResourceID, "vgw": KindResourceID, "cgw": KindResourceID,
	"vpn": KindResourceID, "dopt": KindResourceID, "lt": KindResourceID, "fl": KindResourceID,
	"r": KindResourceID, "sir": KindResourceID, "fleet": KindResourceID, "h": KindResourceID,
	"cr": KindResourceID, "fs": KindResourceID, "fsap": KindResourceID, "pl": KindResourceID,
	"ipam": KindResourceID, "ipam-pool": KindResourceID, "lgw": KindResourceID, "cagw": KindResourceID,
	"vpc-endpoint": KindResourceID, "ins": KindResourceID, "import-ami": KindAMI,
	"export-i": KindResourceID, "elb": KindResourceID, "eks": KindResourceID,
}

// Families lists the names of the pseudonym families (a store records
// each mapping under its family).
func Families() []string { return append([]string(nil), familyName[:]...) }
