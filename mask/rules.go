package mask

// Rule is one kind's detector as data: what it finds, a made-up example,
// and the true and false positives its table test checks. Every value here
// is invented for illustration.
type Rule struct {
	Kind        Kind
	Description string
	Example     string
	// Matches must each yield exactly the span they name.
	Matches []Example
	// Ignores must yield no span of Kind.
	Ignores []string
}

// Example is a text and the span a detector must find in it.
type Example struct {
	In string
	// Want is the text of the span of the rule's kind found in In.
	Want string
	// Keep is what the pseudonym keeps of Want as it is ("AKIA", "i-").
	Keep string
	// By is how it is found: "shape", "context", "prose", "arn", "host",
	// "url" or "pair" (see detector).
	By string
}

// kindDef is everything about one kind: its name, how its pseudonyms are
// shaped, and its rule.
type kindDef struct {
	name        string
	family      family
	description string
	example     string
	matches     []Example
	ignores     []string
}

// Rules lists the built-in detectors, in the order `claude-secure rules`
// shows them.
func Rules() []Rule {
	out := make([]Rule, 0, kindCount)
	for k, d := range kinds {
		if Kind(k) == KindUserRule {
			continue
		}
		out = append(out, Rule{Kind: Kind(k), Description: d.description, Example: d.example, Matches: d.matches, Ignores: d.ignores})
	}
	return out
}

// kinds is the one table of kinds, indexed by Kind. Adding a kind is a
// constant in kinds.go and an entry here with its examples (see "Adding a
// detector" in docs/rules.md); TestEveryKindHasARule fails if the entry
// is missing or empty.
var kinds = [kindCount]kindDef{
	KindResourceID: {
		name: "resource-id", family: famHex,
		description: "other resource IDs: igw, nat, rtb, tgw, vpce, pcx, lt, fs, … and any prefix with 17 hex digits",
		example:     "nat-0a1b2c3d4e5f67890",
		matches: []Example{
			{In: "igw-0a1b2c3d", Want: "igw-0a1b2c3d", Keep: "igw-", By: "shape"},
			{In: "nat-0a1b2c3d4e5f67890", Want: "nat-0a1b2c3d4e5f67890", Keep: "nat-", By: "shape"},
			{In: "tgw-attach-0a1b2c3d4e5f67890", Want: "tgw-attach-0a1b2c3d4e5f67890", Keep: "tgw-attach-", By: "shape"},
			{In: "vpce-svc-0a1b2c3d4e5f67890", Want: "vpce-svc-0a1b2c3d4e5f67890", Keep: "vpce-svc-", By: "shape"},
			{In: "rtbassoc-0a1b2c3d", Want: "rtbassoc-0a1b2c3d", Keep: "rtbassoc-", By: "shape"},
			{In: "fs-0a1b2c3d", Want: "fs-0a1b2c3d", Keep: "fs-", By: "shape"},
			{In: "widget-0a1b2c3d4e5f67890", Want: "widget-0a1b2c3d4e5f67890", Keep: "widget-", By: "shape"},
		},
		ignores: []string{"nat-gateway", "fs-12", "deadbeef-cafe", "123e4567-e89b-12d3-a456-426614174000", "widget-0a1b2c3d"},
	},
	KindEC2Instance: {
		name: "ec2-instance", family: famHex,
		description: "EC2 instance IDs",
		example:     "i-0f3a9c2b7d1e4a605",
		matches: []Example{
			{In: "i-0f3a9c2b7d1e4a605", Want: "i-0f3a9c2b7d1e4a605", Keep: "i-", By: "shape"},
			{In: "InstanceId: i-0a1b2c3d", Want: "i-0a1b2c3d", Keep: "i-", By: "shape"},
			{In: `"i-0f3a9c2b7d1e4a605"`, Want: "i-0f3a9c2b7d1e4a605", Keep: "i-", By: "shape"},
			{In: "x\\ni-0f3a9c2b7d1e4a605", Want: "i-0f3a9c2b7d1e4a605", Keep: "i-", By: "shape"},
			{In: "arn:aws:ec2:us-east-1:210987654321:instance/i-0f3a9c2b7d1e4a605", Want: "i-0f3a9c2b7d1e4a605", Keep: "i-", By: "arn"},
		},
		ignores: []string{"hi-0f3a9c2b", "i-0f3a9c2", "i-0F3A9C2B7D1E4A605", "i-0f3a9c2b7d1e4a605x", "multi-tenant"},
	},
	KindAMI: {
		name: "ami", family: famHex,
		description: "AMI IDs",
		example:     "ami-0c55b159cbfafe1f0",
		matches: []Example{
			{In: "ami-0c55b159cbfafe1f0", Want: "ami-0c55b159cbfafe1f0", Keep: "ami-", By: "shape"},
			{In: "--image-id ami-0abc1234", Want: "ami-0abc1234", Keep: "ami-", By: "shape"},
		},
		ignores: []string{"ami-xyz", "tsunami-0abc1234def"},
	},
	KindEBSVolume: {
		name: "ebs-volume", family: famHex,
		description: "EBS volume IDs",
		example:     "vol-049df61146c4d7901",
		matches: []Example{
			{In: "vol-049df61146c4d7901", Want: "vol-049df61146c4d7901", Keep: "vol-", By: "shape"},
			{In: "vol-0a1b2c3d", Want: "vol-0a1b2c3d", Keep: "vol-", By: "shape"},
		},
		ignores: []string{"vol-1", "volume-0a1b2c3d"},
	},
	KindEBSSnapshot: {
		name: "ebs-snapshot", family: famHex,
		description: "EBS snapshot IDs",
		example:     "snap-0b5e3c9a7d2f18e46",
		matches: []Example{
			{In: "snap-0b5e3c9a7d2f18e46", Want: "snap-0b5e3c9a7d2f18e46", Keep: "snap-", By: "shape"},
		},
		ignores: []string{"snap-fast"},
	},
	KindSecurityGroup: {
		name: "security-group", family: famHex,
		description: "security group and rule IDs",
		example:     "sg-0a1b2c3d4e5f60718",
		matches: []Example{
			{In: "sg-0a1b2c3d4e5f60718", Want: "sg-0a1b2c3d4e5f60718", Keep: "sg-", By: "shape"},
			{In: "sgr-0123456789abcdef0", Want: "sgr-0123456789abcdef0", Keep: "sgr-", By: "shape"},
			{In: "GroupId=sg-0a1b2c3d", Want: "sg-0a1b2c3d", Keep: "sg-", By: "shape"},
		},
		ignores: []string{"sg-web", "msg-0a1b2c3d"},
	},
	KindSubnet: {
		name: "subnet", family: famHex,
		description: "subnet IDs",
		example:     "subnet-0e1f2a3b4c5d6e7f8",
		matches: []Example{
			{In: "subnet-0e1f2a3b4c5d6e7f8", Want: "subnet-0e1f2a3b4c5d6e7f8", Keep: "subnet-", By: "shape"},
			{In: "subnet-12ab34cd", Want: "subnet-12ab34cd", Keep: "subnet-", By: "shape"},
		},
		ignores: []string{"subnet-private-a"},
	},
	KindVPC: {
		name: "vpc", family: famHex,
		description: "VPC IDs",
		example:     "vpc-0d4e5f6a7b8c9d0e1",
		matches: []Example{
			{In: "vpc-0d4e5f6a7b8c9d0e1", Want: "vpc-0d4e5f6a7b8c9d0e1", Keep: "vpc-", By: "shape"},
			{In: "my-vpc-0d4e5f6a", Want: "vpc-0d4e5f6a", Keep: "vpc-", By: "shape"},
		},
		ignores: []string{"vpc-main", "vpc-1234"},
	},
	KindNetworkInterface: {
		name: "network-interface", family: famHex,
		description: "network interface and attachment IDs",
		example:     "eni-0a9b8c7d6e5f40312",
		matches: []Example{
			{In: "eni-0a9b8c7d6e5f40312", Want: "eni-0a9b8c7d6e5f40312", Keep: "eni-", By: "shape"},
			{In: "eni-attach-0a1b2c3d4e5f67890", Want: "eni-attach-0a1b2c3d4e5f67890", Keep: "eni-attach-", By: "shape"},
		},
		ignores: []string{"eni-main"},
	},
	KindAccountID: {
		name: "account-id", family: famDigits,
		description: "account IDs, where the context says so",
		example:     "210987654321",
		matches: []Example{
			{In: "account 210987654321", Want: "210987654321", By: "context"},
			{In: "Account ID: 210987654321", Want: "210987654321", By: "context"},
			{In: `"OwnerId": "210987654321"`, Want: "210987654321", By: "context"},
			{In: "aws_account_id = 210987654321", Want: "210987654321", By: "context"},
			{In: "--account-id 210987654321", Want: "210987654321", By: "context"},
			{In: `"OwnerIds": ["210987654321", "310987654321"]`, Want: "210987654321", By: "context"},
			{In: "    3\t\"AccountIds\": [\n    4\t    \"210987654321\",\n    5\t    \"310987654321\"", Want: "210987654321", By: "context"},
			{In: "{\n2\t  \"AccountIds\": [\n3\t    \"210987654321\"", Want: "210987654321", By: "context"},
			{In: "210987654321.dkr.ecr.us-east-1.amazonaws.com", Want: "210987654321", By: "context"},
			{In: "https://sqs.us-east-1.amazonaws.com/210987654321/q", Want: "210987654321", By: "host"},
			{In: "arn:aws:iam::210987654321:root", Want: "210987654321", By: "arn"},
			{In: `"Principal": {"AWS": "210987654321"}`, Want: "210987654321", By: "context"},
		},
		ignores: []string{"order 210987654321", "210987654321", "account 123456789012", "phone 2109876543210", "account 21098765432"},
	},
	KindARNResource: {
		name: "arn-resource", family: famPattern,
		description: "resource names inside ARNs (partition, service, region and type stay)",
		example:     "arn:aws:lambda:us-east-1:210987654321:function:orders-api",
		matches: []Example{
			{In: "arn:aws:lambda:us-east-1:210987654321:function:orders-api", Want: "orders-api", By: "arn"},
			{In: "arn:aws-us-gov:iam::210987654321:role/deploy", Want: "deploy", By: "arn"},
			{In: "arn:aws-cn:sns:cn-north-1:210987654321:alerts", Want: "alerts", By: "arn"},
		},
		ignores: []string{"arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::210987654321:root", "barn:door"},
	},
	KindAccessKeyID: {
		name: "access-key-id", family: famBase32,
		description: "access key IDs (AKIA, ASIA, AROA, …)",
		example:     "AKIAQ3EGUWTXC2KMNPZR",
		matches: []Example{
			{In: "AKIAQ3EGUWTXC2KMNPZR", Want: "AKIAQ3EGUWTXC2KMNPZR", Keep: "AKIA", By: "shape"},
			{In: "ASIAQ3EGUWTXC2KMNPZR", Want: "ASIAQ3EGUWTXC2KMNPZR", Keep: "ASIA", By: "shape"},
			{In: "key=AKIAQ3EGUWTXC2KMNPZR", Want: "AKIAQ3EGUWTXC2KMNPZR", Keep: "AKIA", By: "shape"},
			{In: "\\nAKIAQ3EGUWTXC2KMNPZR", Want: "AKIAQ3EGUWTXC2KMNPZR", Keep: "AKIA", By: "shape"},
		},
		ignores: []string{"AKIAIOSFODNN7EXAMPLE", "AKIAQ3EGUWTXC2KMNPZ", "XAKIAQ3EGUWTXC2KMNPZR", "AKIAQ3EGUWTXC2KMNPZR1"},
	},
	KindSecretAccessKey: {
		name: "secret-access-key", family: famBase64,
		description: "secret access keys, by key name or right after an access key ID",
		example:     "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj",
		matches: []Example{
			{In: "aws_secret_access_key = Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", Want: "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", By: "context"},
			{In: `"SecretAccessKey": "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj"`, Want: "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", By: "context"},
			{In: "AKIAQ3EGUWTXC2KMNPZR,Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", Want: "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", By: "pair"},
			{In: "AWS_SECRET_ACCESS_KEY=Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", Want: "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", By: "context"},
			{In: "aws_secret_access_key = \x1b[33mZx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj\x1b[0m", Want: "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", By: "context"},
			{In: "aws_secret_access_key =\u00a0Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", Want: "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", By: "context"},
			{In: "ACCESSKEY\tAKIAQ3EGUWTXC2KMNPZR\t2024-05-02T08:15:03+00:00\tZx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj\tActive\tci-bot", Want: "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", By: "pair"},
		},
		ignores: []string{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", "secret_key = ${SECRET}"},
	},
	KindSessionToken: {
		name: "session-token", family: famBase64,
		description: "session tokens, by key name or by their prefix",
		example:     "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDx7…",
		matches: []Example{
			{In: "aws_session_token = FwoGZXIvYXdzEBYaDKx7Qm9zZ3V0aG9yaXR5IjAyMDI0MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OTBhYmNkZWZnaA==", Want: "FwoGZXIvYXdzEBYaDKx7Qm9zZ3V0aG9yaXR5IjAyMDI0MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OTBhYmNkZWZnaA==", By: "context"},
			{In: "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDx7abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij", Want: "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDx7abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij", Keep: "IQoJb3JpZ2luX2Vj", By: "shape"},
			{In: "FwoGZXIvYXdzEJr//////////wEaDEXAMPLEbm90LWEtcmVhbC10b2tlbi1idXQtbG9uZy1lbm91Z2gtdG8tbG9vay1saWtlLW9uZQ0123456789", Want: "FwoGZXIvYXdzEJr//////////wEaDEXAMPLEbm90LWEtcmVhbC10b2tlbi1idXQtbG9uZy1lbm91Z2gtdG8tbG9vay1saWtlLW9uZQ0123456789", Keep: "FwoGZXIvYXdz", By: "shape"},
		},
		ignores: []string{"IQoJ", "sessionToken: null"},
	},
	KindBedrockKey: {
		name: "bedrock-api-key", family: famBase64,
		description: "Bedrock API keys",
		example:     "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlLWtleS1mb3ItZG9jcw==",
		matches: []Example{
			{In: "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlLWtleS1mb3ItZG9jcw==", Want: "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlLWtleS1mb3ItZG9jcw==", Keep: "ABSK", By: "shape"},
			{In: "AWS_BEARER_TOKEN_BEDROCK=bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tlbg", Want: "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tlbg", By: "context"},
		},
		ignores: []string{"ABSK", "ABSKY"},
	},
	KindAmzSignature: {
		name: "amz-signature", family: famHex,
		description: "signatures and security tokens in presigned URLs",
		example:     "X-Amz-Signature=3f1c…",
		matches: []Example{
			{In: "X-Amz-Signature=3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a", Want: "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a", By: "context"},
		},
		ignores: []string{"X-Amz-Signature=abc"},
	},
	KindIPv4: {
		name: "ipv4", family: famIPv4,
		description: "IPv4 addresses and CIDR blocks (private and public)",
		example:     "10.20.30.40",
		matches: []Example{
			{In: "10.20.30.40", Want: "10.20.30.40", By: "shape"},
			{In: "172.31.45.9/20", Want: "172.31.45.9/20", By: "shape"},
			{In: "54.210.7.33", Want: "54.210.7.33", By: "shape"},
			{In: "192.168.1.20", Want: "192.168.1.20", By: "shape"},
			{In: "100.64.3.4", Want: "100.64.3.4", By: "shape"},
			{In: "src=10.0.1.5:443", Want: "10.0.1.5", By: "shape"},
			{In: "ip-10-20-30-40.ec2.internal", Want: "10-20-30-40", By: "shape"},
			{In: "ec2-54-210-7-33.compute-1.amazonaws.com", Want: "54-210-7-33", By: "shape"},
		},
		ignores: []string{"127.0.0.1", "169.254.169.254", "0.0.0.0/0", "255.255.255.0", "192.0.2.10", "198.51.100.7", "203.0.113.9", "224.0.0.251", "v10.15.7.2", "RFC 7230 section 3.1.1.5", "version 1.2.3.4", "1.2.3.4.5", "10.0.0.0/8", "256.1.1.1", "01.2.3.4"},
	},
	KindIPv6: {
		name: "ipv6", family: famIPv6,
		description: "IPv6 global and unique-local addresses",
		example:     "2600:1f18:4b2:ab00::1a",
		matches: []Example{
			{In: "2600:1f18:4b2:ab00::1a", Want: "2600:1f18:4b2:ab00::1a", By: "shape"},
			{In: "fd12:3456:789a::1", Want: "fd12:3456:789a::1", By: "shape"},
			{In: "2a05:d018:ab::/56", Want: "2a05:d018:ab::/56", By: "shape"},
		},
		ignores: []string{"::1", "fe80::1", "2001:db8::1", "ff02::1", "12:34:56", "dead:beef", "2600:1F18:4b2::1"},
	},
	KindAWSHostname: {
		name: "aws-hostname", family: famPattern,
		description: "customer parts of AWS endpoint hostnames (RDS, ElastiCache, ELB, EKS, API Gateway, CloudFront, Lambda URLs, …)",
		example:     "orders.c9akciq32.us-east-1.rds.amazonaws.com",
		matches: []Example{
			{In: "orders.c9akciq32.us-east-1.rds.amazonaws.com", Want: "orders", By: "host"},
			{In: "my-lb-1234567890.us-east-1.elb.amazonaws.com", Want: "my-lb-1234567890", By: "host"},
			{In: "d111111abcdef8.cloudfront.net", Want: "d111111abcdef8", By: "host"},
			{In: "abc123defg.execute-api.us-east-1.amazonaws.com", Want: "abc123defg", By: "host"},
			{In: "zyx987.lambda-url.eu-west-1.on.aws", Want: "zyx987", By: "host"},
			{In: "internal-checkout-alb-1234567890.us-east-1.elb.amazonaws.com", Want: "internal-checkout-alb-1234567890", Keep: "internal-", By: "host"},
		},
		ignores: []string{"s3.amazonaws.com", "sts.us-east-1.amazonaws.com", "ec2.internal", "amazonaws.com.example.org"},
	},
	KindS3Bucket: {
		name: "s3-bucket", family: famPattern,
		description: "S3 bucket names in URLs, ARNs, keys and flags",
		example:     "acme-prod-logs",
		matches: []Example{
			{In: "s3://acme-prod-logs/key.txt", Want: "acme-prod-logs", By: "url"},
			{In: "arn:aws:s3:::acme-prod-logs/*", Want: "acme-prod-logs", By: "arn"},
			{In: `"BucketName": "acme-prod-logs"`, Want: "acme-prod-logs", By: "context"},
			{In: "--bucket acme-prod-logs", Want: "acme-prod-logs", By: "context"},
			{In: "https://s3.us-east-1.amazonaws.com/acme-prod-logs/x", Want: "acme-prod-logs", By: "host"},
			{In: "acme-prod-logs.s3.amazonaws.com", Want: "acme-prod-logs", By: "host"},
			{In: "the bucket acme-prod-logs", Want: "acme-prod-logs", By: "prose"},
			{In: `const bucketName = "acme-prod-logs"`, Want: "acme-prod-logs", By: "context"},
			{In: `BUCKET_NAME = "acme-prod-logs"`, Want: "acme-prod-logs", By: "context"},
			{In: `bucket = "acme-prod-logs"`, Want: "acme-prod-logs", By: "context"},
		},
		ignores: []string{"bucket list", "the bucket", `"bucket": "${var.bucket}"`},
	},
	KindResourceName: {
		name: "resource-name", family: famPattern,
		description: "names by key or flag: DBInstanceIdentifier, FunctionName, RoleName, UserName, ClusterName, TableName, QueueName, StackName, KeyName, SecretId, …",
		example:     "orders-db",
		matches: []Example{
			{In: `"DBInstanceIdentifier": "orders-db"`, Want: "orders-db", By: "context"},
			{In: "FunctionName: orders-api", Want: "orders-api", By: "context"},
			{In: "--role-name DeployRole", Want: "DeployRole", By: "context"},
			{In: `role_name = "deploy"`, Want: "deploy", By: "context"},
			{In: "--function-name=orders-api", Want: "orders-api", By: "context"},
			{In: `role = "checkout-task-role"`, Want: "checkout-task-role", By: "context"},
			{In: `iam_instance_profile = "web-prod-profile"`, Want: "web-prod-profile", By: "context"},
			{In: `const tableName = "ledger-prod-7"`, Want: "ledger-prod-7", By: "context"},
			{In: `tableName := "ledger-prod-7"`, Want: "ledger-prod-7", By: "context"},
			{In: "let functionName = 'orders-api'", Want: "orders-api", By: "context"},
			{In: "the RDS instance orders-db-2 is down", Want: "orders-db-2", By: "prose"},
			{In: "table ledger_2024 grew", Want: "ledger_2024", By: "prose"},
			{In: "the Glue job nightly-etl failed", Want: "nightly-etl", By: "prose"},
			{In: "EKS cluster prod-eks-3", Want: "prod-eks-3", By: "prose"},
			{In: "Resource ID: web-prod-42", Want: "web-prod-42", By: "context"},
			{In: "210987654321.dkr.ecr.us-east-1.amazonaws.com/checkout-api:v1.2.3", Want: "checkout-api", By: "host"},
		},
		ignores: []string{`"name": "orders-db"`, "function_name()", "FunctionName: ${var.name}", `username="Aladdin"`, "Username: u.Username(),", "role = aws_iam_role.task.name", `"role": "assistant"`, "role: admin-user", `var bucket = flag.String("bucket", "", "")`, "RDS instance db.r5.large", "table 3-1", "an instance of the class", "{ID: http2SettingEnablePush, Val: 0}", "ID: 42", "cluster us-east-1"},
	},
	KindTagName: {
		name: "tag-name", family: famPattern,
		description: "Name tag values",
		example:     "web-prod-1",
		matches: []Example{
			{In: `{"Key": "Name", "Value": "web-prod-1"}`, Want: "web-prod-1", By: "context"},
			{In: "tags = {\n  Name = \"web-prod-1\"\n}", Want: "web-prod-1", By: "context"},
			{In: `"tags": {"Name": "web-prod-1"}`, Want: "web-prod-1", By: "context"},
			{In: "Key=Name,Value=web-prod-1", Want: "web-prod-1", By: "context"},
			{In: "{\n5\t  \"Key\": \"Name\",\n6\t  \"Value\": \"web-prod-1\"\n7\t}", Want: "web-prod-1", By: "context"},
			{In: "    12→- Key: Name\n    13→  Value: web-prod-1", Want: "web-prod-1", By: "context"},
			{In: `{"Key": "Name", "ResourceId": "i-0f3a9c2b7d1e4a605", "ResourceType": "instance", "Value": "web-prod-1"}`, Want: "web-prod-1", By: "context"},
		},
		ignores: []string{`{"Key": "Env", "Value": "prod"}`, `name = "web"`, `{Name: "ChocolateChip", Value: "tasty"}`, `{"Name": "Platypus", "Order": "Monotremata"}`, `Name = "web"`},
	},
	KindPrivateKey: {
		name: "private-key", family: famPattern,
		description: "PEM private key bodies",
		example:     "-----BEGIN RSA PRIVATE KEY-----…",
		matches: []Example{
			{In: "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq9fake0key0body0line\n-----END RSA PRIVATE KEY-----", Want: "\nMIIEpAIBAAKCAQEA7bq9fake0key0body0line\n", By: "shape"},
			{In: "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANfake\\n-----END PRIVATE KEY-----", Want: "\\nMIIEvQIBADANfake\\n", By: "shape"},
			{In: "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGXfake0key0body0line\n-----END PGP PRIVATE KEY BLOCK-----", Want: "\n\nlQOYBGXfake0key0body0line\n", By: "shape"},
		},
		ignores: []string{"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN PUBLIC KEY-----"},
	},
	KindAnthropicKey: {
		name: "anthropic-key", family: famPattern,
		description: "Anthropic API keys",
		example:     "sk-ant-api03-…",
		matches: []Example{
			{In: "sk-ant-api03-Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOp-qrs_tuvAA", Want: "sk-ant-api03-Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOp-qrs_tuvAA", Keep: "sk-ant-api03-", By: "shape"},
		},
		ignores: []string{"sk-ant-", "task-ant-api03-Zx9Lk2MnOpQrStUvWxYz0123456789"},
	},
	KindGitHubToken: {
		name: "github-token", family: famPattern,
		description: "GitHub tokens",
		example:     "ghp_…",
		matches: []Example{
			{In: "ghp_Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEf", Want: "ghp_Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEf", Keep: "ghp_", By: "shape"},
			{In: "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd", Want: "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd", Keep: "github_pat_", By: "shape"},
		},
		ignores: []string{"ghp_short", "xghp_Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEf"},
	},
	KindSlackToken: {
		name: "slack-token", family: famPattern,
		description: "Slack tokens",
		example:     "xoxb-…",
		matches: []Example{
			{In: "xoxb-210987654321-1234567890123-Zx9Lk2MnOpQrStUvWxYz0123", Want: "xoxb-210987654321-1234567890123-Zx9Lk2MnOpQrStUvWxYz0123", Keep: "xoxb-", By: "shape"},
		},
		ignores: []string{"xoxb-1"},
	},
	KindStripeKey: {
		name: "stripe-key", family: famPattern,
		description: "Stripe secret keys",
		example:     "sk_live_…",
		matches: []Example{
			{In: "sk_live_Zx9Lk2MnOpQrStUvWxYz0123", Want: "sk_live_Zx9Lk2MnOpQrStUvWxYz0123", Keep: "sk_live_", By: "shape"},
			{In: "rk_live_Zx9Lk2MnOpQrStUvWxYz0123", Want: "rk_live_Zx9Lk2MnOpQrStUvWxYz0123", Keep: "rk_live_", By: "shape"},
		},
		ignores: []string{"pk_live_Zx9Lk2MnOpQrStUvWxYz0123", "sk_live_"},
	},
	KindGoogleAPIKey: {
		name: "google-api-key", family: famPattern,
		description: "Google API keys",
		example:     "AIza…",
		matches: []Example{
			{In: "AIzaSyZx9Lk2MnOpQrStUvWxYz0123456789AbC", Want: "AIzaSyZx9Lk2MnOpQrStUvWxYz0123456789AbC", Keep: "AIza", By: "shape"},
		},
		ignores: []string{"AIzaShort"},
	},
	KindPassword: {
		name: "password", family: famPattern,
		description: "passwords in connection strings and password keys",
		example:     "postgres://app:…@db:5432/app",
		matches: []Example{
			{In: "postgres://app:Zx9Lk2Mn@db.internal:5432/app", Want: "Zx9Lk2Mn", By: "url"},
			{In: "password: Zx9Lk2MnOp", Want: "Zx9Lk2MnOp", By: "context"},
			{In: `"MasterUserPassword": "Zx9Lk2MnOp"`, Want: "Zx9Lk2MnOp", By: "context"},
		},
		ignores: []string{"https://example.com:8080/path", "postgres://app@db/app", "password: ${DB_PASSWORD}", "password = <redacted>", "http://user:pass@example.com/", `const password = "@/?!"`},
	},
	KindIAMUniqueID: {
		name: "iam-unique-id", family: famBase32,
		description: "IAM unique IDs of roles, users, groups and instance profiles (AROA…, AIDA…, AIPA…: 21 characters)",
		example:     "AROAQ3EGUWTXC2KMNPZR7",
		matches: []Example{
			{In: "AROAQ3EGUWTXC2KMNPZR7", Want: "AROAQ3EGUWTXC2KMNPZR7", Keep: "AROA", By: "shape"},
			{In: `"principalId": "AROAQ3EGUWTXC2KMNPZR7:deploy-session"`, Want: "AROAQ3EGUWTXC2KMNPZR7", Keep: "AROA", By: "shape"},
			{In: `"UserId": "AIDAQ3EGUWTXC2KMNPZR7"`, Want: "AIDAQ3EGUWTXC2KMNPZR7", Keep: "AIDA", By: "shape"},
			{In: `"Id": "AIPAQ3EGUWTXC2KMNPZR7"`, Want: "AIPAQ3EGUWTXC2KMNPZR7", Keep: "AIPA", By: "shape"},
		},
		ignores: []string{"AROAQ3EGUWTXC2KMNPZR", "AKIAQ3EGUWTXC2KMNPZR7", "AIDACKCEVSQ6C2EXAMPLE", "AROAQ3EGUWTXC2KMNPZR7X"},
	},
	KindKMSKey: {
		name: "kms-key-id", family: famHex,
		description: "KMS key IDs, where a key, flag or ARN names them",
		example:     "1234abcd-12ab-34cd-56ef-1234567890ab",
		matches: []Example{
			{In: `"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"`, Want: "1234abcd-12ab-34cd-56ef-1234567890ab", By: "context"},
			{In: "--key-id 1234abcd-12ab-34cd-56ef-1234567890ab", Want: "1234abcd-12ab-34cd-56ef-1234567890ab", By: "context"},
			{In: "arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab", Want: "1234abcd-12ab-34cd-56ef-1234567890ab", By: "arn"},
			{In: "the KMS key 1234abcd-12ab-34cd-56ef-1234567890ab", Want: "1234abcd-12ab-34cd-56ef-1234567890ab", By: "prose"},
		},
		ignores: []string{"request 123e4567-e89b-12d3-a456-426614174000", `"KeyId": "alias/app"`, `"KeyId": "1234abcd"`},
	},
	KindHostedZone: {
		name: "hosted-zone-id", family: famPattern,
		description: "Route 53 hosted zone IDs, where a key or flag names them",
		example:     "Z3P5QSUBK4POTI",
		matches: []Example{
			{In: `"HostedZoneId": "Z3P5QSUBK4POTI"`, Want: "Z3P5QSUBK4POTI", By: "context"},
			{In: "--hosted-zone-id Z3P5QSUBK4POTI", Want: "Z3P5QSUBK4POTI", By: "context"},
		},
		ignores: []string{`"HostedZoneId": "ZONE"`, "Z3P5QSUBK4POTI is a word"},
	},
	KindAPIGateway: {
		name: "api-gateway-id", family: famPattern,
		description: "API Gateway IDs, where a key or flag names them",
		example:     "a1b2c3d4e5",
		matches: []Example{
			{In: `"restApiId": "a1b2c3d4e5"`, Want: "a1b2c3d4e5", By: "context"},
			{In: "--rest-api-id a1b2c3d4e5", Want: "a1b2c3d4e5", By: "context"},
			{In: `"ApiId": "k9x8w7v6u5"`, Want: "k9x8w7v6u5", By: "context"},
		},
		ignores: []string{`"ApiId": "not-an-id"`, `"restApiId": "A1B2C3D4E5"`},
	},
	KindLogGroup: {
		name: "log-group", family: famPattern,
		description: `CloudWatch log group names: of AWS services (/aws/lambda/…) and where a key, flag or "log group" names them`,
		example:     "/aws/lambda/orders-api",
		matches: []Example{
			{In: "/aws/lambda/orders-api", Want: "orders-api", By: "shape"},
			{In: `"logGroupName": "/aws/rds/instance/orders-db/postgresql"`, Want: "orders-db", By: "shape"},
			{In: "--log-group-name checkout-audit", Want: "checkout-audit", By: "context"},
			{In: "the log group app-audit-7 is full", Want: "app-audit-7", By: "prose"},
			{In: "/aws/eks/prod-eks-3/cluster", Want: "prod-eks-3", By: "shape"},
		},
		ignores: []string{"https://example.com/aws/lambda/x", "/aws/lambda/", "log group audit", "/aws/rds/instance/postgresql"},
	},
	KindUserRule: {name: "user-rule", family: famPattern}, // the configuration's rules: see config.go
}
