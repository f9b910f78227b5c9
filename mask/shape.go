package mask

import "bytes"

// Value shapes: whether a token reads as a name, a UUID, a bucket, a
// placeholder or an ordinary word. Pure functions of the bytes.

// nameShaped: a token that reads as a resource's name, not as a word or a
// number: a letter, and a digit, '-' or '_' besides (web-prod-42, etl_2).
func nameShaped(v []byte) bool {
	letter, mark := false, false
	for _, c := range v {
		switch {
		case isUpper(c) || isLower(c):
			letter = true
		case isDigit(c) || c == '-' || c == '_':
			mark = true
		case c == '.':
		default:
			return false
		}
	}
	return letter && mark && len(v) >= minToken
}

// uuidShaped: 8-4-4-4-12 hex digits of one case (KMS key IDs).
func uuidShaped(v []byte) bool {
	if len(v) != 36 || !sameCase(v) {
		return false
	}
	for i, c := range v {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHexAny(c) {
			return false
		}
	}
	return true
}

// hostedZoneShaped: Route 53 hosted zone IDs, Z and 10 to 32 of [A-Z0-9].
func hostedZoneShaped(v []byte) bool {
	if len(v) < 11 || len(v) > 33 || v[0] != 'Z' {
		return false
	}
	digit := false
	for _, c := range v[1:] {
		if !isUpper(c) && !isDigit(c) {
			return false
		}
		digit = digit || isDigit(c)
	}
	return digit
}

// bucketShaped: 3 to 63 of [a-z0-9.-], starting and ending alphanumeric,
// and not a number literal.
func bucketShaped(v []byte) bool {
	if len(v) < 3 || len(v) > 63 || !isAlnum(v[0]) || !isAlnum(v[len(v)-1]) {
		return false
	}
	for _, c := range v {
		if !(isLower(c) || isDigit(c) || c == '-' || c == '.') {
			return false
		}
	}
	return !(v[0] == '0' && v[1] == 'x') && !allDigits(v)
}

func allLowerAlnum(v []byte) bool {
	for _, c := range v {
		if !isLower(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

func allB64(v []byte) bool {
	for _, c := range v {
		if !isB64(c) && c != '=' && c != '%' {
			return false
		}
	}
	return true
}

func hasAlnum(v []byte) bool {
	for _, c := range v {
		if isAlnum(c) {
			return true
		}
	}
	return false
}

// isPlaceholder recognizes values that stand for a value rather than being
// one: variables, templates, redactions.
func isPlaceholder(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	last := v[len(v)-1]
	switch {
	case bytes.HasPrefix(v, []byte("${")), bytes.HasPrefix(v, []byte("$(")), bytes.HasPrefix(v, []byte("{{")),
		bytes.HasPrefix(v, []byte("%(")), bytes.HasPrefix(v, []byte("%{")), bytes.HasPrefix(v, []byte("%s")),
		bytes.HasPrefix(v, []byte("***")),
		v[0] == '<' && last == '>', v[0] == '{' && last == '}', v[0] == '%' && last == '%' && len(v) > 2:
		return true
	case v[0] == '$':
		// a variable ($DB_PASSWORD, $password); a mixed-case value with
		// digits ($uperS3cret9) is a secret
		return len(v) > 1 && (identOf(v[1:], isUpper) || identOf(v[1:], isLower))
	}
	switch string(v) {
	case "true", "false", "null", "none", "None", "nil", "string", "String", "required", "REDACTED":
		return true
	}
	return false
}

var passwordPlaceholders = map[string]bool{
	"password": true, "passwd": true, "pass": true, "secret": true, "changeme": true, "example": true,
	"xxx": true, "xxxx": true, "xxxxxx": true, "xxxxxxxx": true, "********": true, "redacted": true,
}

// identOf reports whether v is an identifier whose letters all pass case
// (DB_PASSWORD for isUpper, db_password for isLower).
func identOf(v []byte, letter func(byte) bool) bool {
	if len(v) == 0 || isDigit(v[0]) {
		return false
	}
	for _, c := range v {
		if !(letter(c) || isDigit(c) || c == '_') {
			return false
		}
	}
	return true
}

// terraformReference recognizes a Terraform expression as a value
// (role = aws_iam_role.app.name, bucket = var.bucket): not a name.
func terraformReference(v []byte) bool {
	for _, p := range []string{"var.", "local.", "module.", "data.", "each.", "count.", "self.", "path.", "aws_", "terraform."} {
		if hasPrefixAt(v, 0, p) {
			return true
		}
	}
	return false
}

func atoiSmall(b []byte) int {
	if len(b) == 0 || len(b) > 3 || (len(b) > 1 && b[0] == '0') {
		return -1
	}
	v := 0
	for _, c := range b {
		v = v*10 + int(c-'0')
	}
	return v
}

// sameCase rejects mixed-case hex, so that the pseudonym can keep the case
// and two spellings never share one pseudonym.
func sameCase(b []byte) bool {
	var u, l bool
	for _, c := range b {
		u = u || (c >= 'A' && c <= 'F')
		l = l || (c >= 'a' && c <= 'f')
	}
	return !(u && l)
}

// nameReadable is true for values that are never masked as names (and so
// are never issued as pseudonyms of names): service words, regions,
// placeholders, version words.
func nameReadable(v []byte) bool {
	return arnReadable[string(v)] || readableHostLabel(v) || isPlaceholder(v) || versionWords[string(bytes.ToLower(v))]
}

// readableHostLabel keeps service names, regions and node numbers.
func readableHostLabel(l []byte) bool {
	if hostLabelsReadable[string(l)] || allDigits(l) && len(l) != 12 {
		return true
	}
	if isRegion(l) {
		return true
	}
	// short region codes (use1, apse2) and EKS shards (gr7, yl4, sk1)
	if len(l) >= 3 && len(l) <= 6 && isDigit(l[len(l)-1]) {
		k := 0
		for k < len(l)-1 && isLower(l[k]) {
			k++
		}
		if k == len(l)-1 && k >= 2 {
			return true
		}
	}
	for _, p := range []string{"s3-", "s3.", "dualstack", "vpce-", "compute-", "cluster-ro-"} {
		if bytes.HasPrefix(l, []byte(p)) && (p != "s3-" || isRegion(l[3:]) || string(l[3:]) == "website" || bytes.HasPrefix(l[3:], []byte("website"))) {
			return true
		}
	}
	return false
}

// isRegion recognizes us-east-1, eu-central-2, us-gov-west-1, cn-north-1,
// us-iso-east-1, us-isob-east-1, ap-southeast-4, il-central-1 …
func isRegion(l []byte) bool {
	parts := bytes.Split(l, []byte("-"))
	if len(parts) < 3 || len(parts) > 4 {
		return false
	}
	if len(parts[0]) != 2 || !allLower(parts[0]) {
		return false
	}
	last := parts[len(parts)-1]
	if len(last) == 0 || len(last) > 2 || !allDigits(last) {
		return false
	}
	for _, p := range parts[1 : len(parts)-1] {
		if len(p) < 3 || !allLower(p) {
			return false
		}
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}

func allLower(b []byte) bool {
	for _, c := range b {
		if !isLower(c) {
			return false
		}
	}
	return len(b) > 0
}

func allTypeChars(b []byte) bool {
	for _, c := range b {
		if !(isLower(c) || isDigit(c) || c == '-' || c == '_') && !(isUpper(c) && len(b) > 1) {
			return false
		}
	}
	return len(b) > 0
}

func allHexLo(b []byte) bool {
	for _, c := range b {
		if !isHexLo(c) {
			return false
		}
	}
	return true
}
