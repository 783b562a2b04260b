package cost

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB's metering units.
const (
	// ReadUnitBytes is the item size one strongly consistent read unit
	// covers (4 KB).
	ReadUnitBytes = 4096
	// WriteUnitBytes is the item size one write unit covers (1 KB).
	WriteUnitBytes = 1024
)

// Consistency is how a read is metered.
type Consistency int

// Read kinds, by their price relative to a strongly consistent read.
const (
	// Strong reads cost 1 unit per 4 KB.
	Strong Consistency = iota
	// Eventual reads cost half a unit per 4 KB.
	Eventual
	// Transactional reads cost 2 units per 4 KB.
	Transactional
)

func (c Consistency) factor() float64 {
	switch c {
	case Eventual:
		return 0.5
	case Transactional:
		return 2
	}
	return 1
}

// ReadUnits returns the read units of one read of bytes: an item for
// GetItem and for each key of BatchGetItem, or the sum of the items one
// page of a Query or Scan evaluated. The size is rounded up to the next
// 4 KB, and a read of nothing still costs one 4 KB unit.
func ReadUnits(bytes int, c Consistency) float64 {
	blocks := (bytes + ReadUnitBytes - 1) / ReadUnitBytes
	if blocks < 1 {
		blocks = 1
	}
	return float64(blocks) * c.factor()
}

// WriteUnits returns the write units of writing one item of bytes (for an
// update or a delete, the larger of the item before and after): the size
// rounded up to the next 1 KB, at least 1, doubled in a transaction.
func WriteUnits(bytes int, transactional bool) float64 {
	blocks := (bytes + WriteUnitBytes - 1) / WriteUnitBytes
	if blocks < 1 {
		blocks = 1
	}
	if transactional {
		return float64(2 * blocks)
	}
	return float64(blocks)
}

// ItemSize returns the size of an item as DynamoDB meters it: for each
// attribute, the length of its name plus the size of its value.
func ItemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize is the metered size of one attribute value, per DynamoDB's
// item size rules: strings and binaries by their length, numbers by about
// one byte per two significant digits plus one, booleans and nulls one
// byte, lists and maps 3 bytes plus one byte and the size of each element.
func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}

// numberSize is (significant digits + 1) / 2 + 1 bytes: leading and
// trailing zeros, the sign, the point and an exponent do not count.
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	digits := strings.ReplaceAll(s, ".", "")
	digits = strings.Trim(digits, "0")
	if digits == "" {
		return 2
	}
	return (len(digits)+1)/2 + 1
}

// PublishReadUnits models the read units of one publish at fan-out
// subscribers: a strongly consistent GetItem of the publisher's connection
// item (connBytes), then Query pages of pageSize subscription items
// (subBytes each; each page reads one item more than it returns to learn
// whether another page follows, as the DynamoDB store does).
func PublishReadUnits(fanout, pageSize, connBytes, subBytes int) float64 {
	if pageSize < 1 {
		pageSize = 500
	}
	units := ReadUnits(connBytes, Strong)
	left := fanout
	for {
		read := min(left, pageSize+1)
		units += ReadUnits(read*subBytes, Strong)
		if left <= pageSize {
			return units
		}
		left -= pageSize
	}
}
