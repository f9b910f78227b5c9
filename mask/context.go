package mask

// Keys, flags and words that make a value sensitive. A value's key counts as
// its context whether it is a JSON/YAML/HCL/INI key, an environment
// variable, a query parameter or a CLI flag; keys are compared after normKey.

// keyKinds maps a normalized key to the kind of the value it holds.
var keyKinds = map[string]Kind{
	// names
	"bucket": KindS3Bucket, "bucketname": KindS3Bucket, "s3bucket": KindS3Bucket,
	"dbinstanceidentifier": KindResourceName, "dbclusteridentifier": KindResourceName,
	"dbsnapshotidentifier": KindResourceName,
	"functionname":         KindResourceName, "rolename": KindResourceName,
	"clustername": KindResourceName, "tablename": KindResourceName, "queuename": KindResourceName,
	"stackname": KindResourceName, "keyname": KindResourceName, "secretid": KindResourceName,
	"secretname": KindResourceName, "loggroupname": KindLogGroup, "topicname": KindResourceName,
	"repositoryname": KindResourceName, "instanceprofilename": KindResourceName,
	"policyname": KindResourceName, "groupname": KindResourceName,
	"cacheclusterid": KindResourceName, "replicationgroupid": KindResourceName,
	"domainname": KindResourceName, "servicename": KindResourceName, "statemachinename": KindResourceName,
	"streamname": KindResourceName, "deliverystreamname": KindResourceName, "filesystemname": KindResourceName,
	"nodegroupname": KindResourceName, "loadbalancername": KindResourceName, "targetgroupname": KindResourceName,
	"parametername": KindResourceName, "dynamodbtable": KindResourceName, "identifier": KindResourceName, "apiname": KindResourceName, "restapiname": KindResourceName,
	"iaminstanceprofile": KindResourceName, "role": KindResourceName, "resourceid": KindResourceName, "resourceids": KindResourceName,
	"keyid": KindKMSKey, "kmskeyid": KindKMSKey, "targetkeyid": KindKMSKey,
	"hostedzoneid": KindHostedZone, "restapiid": KindAPIGateway, "apiid": KindAPIGateway, "httpapiid": KindAPIGateway,
	// account IDs
	"account": KindAccountID, "accountid": KindAccountID, "accountids": KindAccountID,
	"awsaccountid": KindAccountID, "awsaccount": KindAccountID, "accountnumber": KindAccountID,
	"ownerid": KindAccountID, "ownerids": KindAccountID, "owner": KindAccountID, "owners": KindAccountID,
	"recipientaccountid": KindAccountID, "sourceaccount": KindAccountID, "sourceaccountid": KindAccountID,
	"targetaccountid": KindAccountID, "principalaccount": KindAccountID, "requesterid": KindAccountID,
	"expectedbucketowner": KindAccountID, "registryid": KindAccountID, "acct": KindAccountID,
	"aws": KindAccountID, "accountnum": KindAccountID, "payeraccountid": KindAccountID,
	"linkedaccountid": KindAccountID, "useraccountid": KindAccountID, "callerid": KindAccountID,
	// credentials
	"awssecretaccesskey": KindSecretAccessKey, "secretaccesskey": KindSecretAccessKey,
	"secretkey": KindSecretAccessKey, "awssecretkey": KindSecretAccessKey, "awssecret": KindSecretAccessKey,
	"awssessiontoken": KindSessionToken, "sessiontoken": KindSessionToken,
	"awssecuritytoken": KindSessionToken, "securitytoken": KindSessionToken,
	"xamzsecuritytoken": KindSessionToken, "xamzsignature": KindAmzSignature,
	"awsbearertokenbedrock": KindBedrockKey,
	"password":              KindPassword, "passwd": KindPassword, "dbpassword": KindPassword,
	"masteruserpassword": KindPassword, "clientsecret": KindPassword, "pgpassword": KindPassword,
	"mysqlpassword": KindPassword, "redispassword": KindPassword, "adminpassword": KindPassword,
}

// keySuffixes extend keyKinds to keys such as EXPORT_BUCKET, logs_bucket_name
// or prod_account_id.
var keySuffixes = []struct {
	suffix string
	kind   Kind
}{
	{"bucketname", KindS3Bucket}, {"bucket", KindS3Bucket}, {"accountid", KindAccountID}, {"accountids", KindAccountID}, {"ownerid", KindAccountID},
	{"tablename", KindResourceName}, {"queuename", KindResourceName}, {"functionname", KindResourceName},
	{"rolename", KindResourceName}, {"clustername", KindResourceName},
	{"secretaccesskey", KindSecretAccessKey}, {"sessiontoken", KindSessionToken}, {"password", KindPassword},
}

// caseSensitiveKeys are keys whose meaning depends on their exact spelling:
// a capitalized Name is an AWS tag (Terraform tags, CloudFormation), while
// a lowercase name is everywhere in ordinary code.
var caseSensitiveKeys = map[string]Kind{
	"Name": KindTagName,
	// IAM user names as AWS spells them; a plain "username" is everywhere
	"UserName": KindResourceName, "userName": KindResourceName, "user_name": KindResourceName,
	"USER_NAME": KindResourceName, "iam_user_name": KindResourceName, "username": KindResourceName,
	// a label in prose or a listing: "Resource ID: web-prod-42"
	"ID": KindResourceName,
}

// hclOnlyKeys are names only as settings (role = "…" in Terraform, role:
// in YAML would be a user's role, "role": "user" a chat message's).
var hclOnlyKeys = map[string]bool{"role": true}

// shapedKeys hold a name only when it reads as one, with a dash:
// "ID: web-prod-42", not "ID: 42", "ID: none" or a field set in code.
var shapedKeys = map[string]bool{"id": true, "resourceid": true, "resourceids": true}

// quotedOnlyKeys count only as quoted keys ("username": "…" in JSON), not
// as code or header parameters (username="…").
var quotedOnlyKeys = map[string]bool{"username": true, "identifier": true}

// connectionSchemes are the URL schemes whose user:password@ part is a
// database or broker credential.
var connectionSchemes = map[string]bool{
	"postgres": true, "postgresql": true, "mysql": true, "mariadb": true, "mongodb": true,
	"mongodb+srv": true, "redis": true, "rediss": true, "amqp": true, "amqps": true,
	"mssql": true, "sqlserver": true, "oracle": true, "clickhouse": true, "cassandra": true,
	"neo4j": true, "memcached": true, "kafka": true, "nats": true, "ldap": true, "ldaps": true,
	"smtp": true, "smtps": true, "ftp": true, "sftp": true, "jdbc:postgresql": true, "jdbc:mysql": true,
	"elasticsearch": true, "opensearch": true, "snowflake": true, "redshift": true, "db2": true,
}

// flagKinds maps normalized CLI flags (without the leading dashes) to kinds.
var flagKinds = map[string]Kind{
	"bucket": KindS3Bucket, "dbinstanceidentifier": KindResourceName, "dbclusteridentifier": KindResourceName,
	"functionname": KindResourceName, "rolename": KindResourceName, "username": KindResourceName,
	"clustername": KindResourceName, "cluster": KindResourceName, "tablename": KindResourceName,
	"queuename": KindResourceName, "stackname": KindResourceName, "keyname": KindResourceName,
	"secretid": KindResourceName, "loggroupname": KindLogGroup, "topicname": KindResourceName,
	"repositoryname": KindResourceName, "instanceprofilename": KindResourceName,
	"policyname": KindResourceName, "groupname": KindResourceName, "nodegroupname": KindResourceName,
	"keyid": KindKMSKey, "hostedzoneid": KindHostedZone, "restapiid": KindAPIGateway, "apiid": KindAPIGateway,
	"iaminstanceprofile": KindResourceName, "role": KindResourceName,
	"cacheclusterid": KindResourceName, "replicationgroupid": KindResourceName, "name": KindResourceName,
	"accountid": KindAccountID, "account": KindAccountID, "ownerids": KindAccountID, "owners": KindAccountID,
	"expectedbucketowner": KindAccountID, "registryid": KindAccountID, "sourceaccount": KindAccountID,
	"password": KindPassword, "masteruserpassword": KindPassword,
}

// accountWords are words that, written before a 12-digit number in prose,
// make it an account ID ("account 123456789012", "Account ID: …").
var accountWords = map[string]bool{
	"account": true, "accounts": true, "acct": true, "accountid": true, "accountids": true,
	"owner": true, "ownerid": true, "awsaccount": true, "awsaccountid": true,
	"aws": true, "konto": true, "accountnumber": true, "principal": true, "payer": true,
}

// versionWords, written right before a dotted quad, mean it is not an address.
var versionWords = map[string]bool{
	"version": true, "ver": true, "v": true, "section": true, "sec": true, "release": true,
	"rev": true, "revision": true, "build": true, "chapter": true, "clause": true,
	"paragraph": true, "appendix": true, "step": true, "figure": true, "table": true,
	"rule": true, "item": true, "oid": true, "tag": true, "draft": true, "errata": true,
}

// leftAloneAccounts are the account IDs AWS documentation uses as examples.
var leftAloneAccounts = map[string]bool{
	"123456789012": true, "111122223333": true, "444455556666": true, "777788889999": true,
	"000000000000": true, "111111111111": true, "999999999999": true,
}

// arnReadable are ARN resource path segments that carry no identity.
var arnReadable = map[string]bool{
	"*": true, "root": true, "aws": true, "service-role": true, "aws-service-role": true,
	"aws-reserved": true, "$LATEST": true, "stream": true, "index": true, "log-stream": true,
	"log-group": true, "lambda": true, "ecs": true, "eks": true, "events": true, "rds": true,
	"vendedlogs": true, "sso.amazonaws.com": true, "assumed-role": true, "federated-user": true,
	"user": true, "role": true, "policy": true, "instance": true, "function": true, "table": true,
	"key": true, "alias": true, "secret": true, "cluster": true, "service": true, "task": true,
	"task-definition": true, "container-instance": true, "loadbalancer": true, "targetgroup": true,
	"app": true, "net": true, "listener": true, "listener-rule": true, "parameter": true,
	"stateMachine": true, "execution": true, "repository": true, "topic": true, "queue": true,
	"volume": true, "snapshot": true, "image": true, "security-group": true, "subnet": true,
	"vpc": true, "network-interface": true, "db": true, "snapshot-cluster": true, "cluster-snapshot": true,
	"distribution": true, "hostedzone": true, "certificate": true, "nodegroup": true,
	"addon": true, "fargateprofile": true, "api": true, "restapis": true, "stages": true,
	"group": true, "instance-profile": true, "mfa": true, "oidc-provider": true, "saml-provider": true,
	"server-certificate": true, "backup-vault": true, "recovery-point": true, "workgroup": true,
	"deliverystream": true, "rule": true, "event-bus": true, "schedule": true, "layer": true,
	"file-system": true, "access-point": true, "capacity-reservation": true, "dedicated-host": true,
	"launch-template": true, "elastic-ip": true, "natgateway": true, "internet-gateway": true,
	"route-table": true, "transit-gateway": true, "vpc-endpoint": true, "flow-log": true,
	"environment": true, "application": true, "configuration": true, "domain": true,
}

// hostLabelsReadable are hostname labels of AWS endpoints that name the
// service, not the customer.
var hostLabelsReadable = map[string]bool{
	"amazonaws": true, "com": true, "cn": true, "on": true, "aws": true, "cloudfront": true, "net": true,
	"s3": true, "s3-website": true, "s3-accesspoint": true, "s3-control": true, "s3-object-lambda": true,
	"dualstack": true, "fips": true, "dkr": true, "ecr": true, "rds": true, "cache": true,
	"redshift": true, "redshift-serverless": true, "elb": true, "eks": true, "execute-api": true,
	"lambda-url": true, "sqs": true, "sns": true, "es": true, "aoss": true, "ng": true,
	"clustercfg": true, "cfg": true, "compute": true, "compute-1": true, "internal": true, "ec2": true,
	"elasticbeanstalk": true, "appsync-api": true, "vpce": true, "kafka": true, "mq": true,
	"docdb": true, "neptune": true, "memorydb": true, "serverless": true, "dax": true,
	"dynamodb": true, "sts": true, "iam": true, "lambda": true, "logs": true, "monitoring": true,
	"ssm": true, "secretsmanager": true, "kms": true, "api": true, "ecs": true, "events": true,
	"states": true, "cloudformation": true, "autoscaling": true, "elasticloadbalancing": true,
	"athena": true, "glue": true, "kinesis": true, "firehose": true, "bedrock": true,
	"bedrock-runtime": true, "sagemaker": true, "runtime": true, "cognito-idp": true, "auth": true,
	"proxy": true, "cluster-ro": true, "www": true, "global": true, "us": true, "eu": true,
}
