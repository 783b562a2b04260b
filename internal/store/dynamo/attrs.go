package dynamo

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// withKey returns a copy of it with the given keys.
func withKey(it item, pk, sk string) item {
	out := make(item, len(it)+2)
	for k, v := range it {
		out[k] = v
	}
	out[store.AttrPK], out[store.AttrSK] = str(pk), str(sk)
	return out
}

func keyOf(pk, sk string) item {
	return item{store.AttrPK: str(pk), store.AttrSK: str(sk)}
}

// keyID identifies an item by its keys in maps.
func keyID(it item) string { return getS(it, store.AttrPK) + "\x00" + getS(it, store.AttrSK) }

// live reports whether it has not expired at now (epoch seconds).
func live(it item, now int64) bool {
	if _, ok := it[store.AttrExpiresAt]; !ok {
		return true
	}
	return getN(it, store.AttrExpiresAt) > now
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// strList is a list attribute of strings.
func strList(vs []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(vs))
	for i, v := range vs {
		l[i] = str(v)
	}
	return &types.AttributeValueMemberL{Value: l}
}

// getStrList returns the strings of the list attribute name, and whether
// it is present.
func getStrList(it item, name string) ([]string, bool) {
	l, ok := it[name].(*types.AttributeValueMemberL)
	if !ok {
		return nil, false
	}
	var out []string
	for _, v := range l.Value {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out = append(out, s.Value)
		}
	}
	return out, true
}

// setStrings sets each attribute of attrs whose value is not empty.
func setStrings(it item, attrs map[string]string) {
	for name, v := range attrs {
		if v != "" {
			it[name] = str(v)
		}
	}
}

// setTime sets the attribute name to t (formatTime) unless t is zero.
func setTime(it item, name string, t time.Time) {
	if !t.IsZero() {
		it[name] = str(formatTime(t))
	}
}

// setExpiry sets the TTL attribute to t in epoch seconds unless t is zero.
func setExpiry(it item, t time.Time) {
	if !t.IsZero() {
		it[store.AttrExpiresAt] = num(t.Unix())
	}
}

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func getS(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// getN returns a whole number attribute, or 0 when it is absent. A
// fractional number (which the store never writes) is truncated.
func getN(it item, name string) int64 {
	v, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
		return n
	}
	f, _ := strconv.ParseFloat(v.Value, 64)
	return int64(f)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func nonEmpty(vals item) item {
	if len(vals) == 0 {
		return nil
	}
	return vals
}

func checkParts(op, key string, parts ...string) error {
	return store.CheckKeyParts("dynamo", op, key, parts...)
}

// queryPageMax is the most items one Query of a listing asks for.
const queryPageMax = 1000

// queryLimit is the Limit of a Query for n items: at least 1 (DynamoDB
// refuses 0) and at most queryPageMax, whatever n is. Callers compute n
// without overflow (a caller's page limit may be as large as an int
// holds).
func queryLimit(n int) *int32 {
	return aws.Int32(int32(max(1, min(n, queryPageMax))))
}
