package doc

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// maxExpGap bounds the difference between the decimal exponents of two
// numbers that AddNumbers aligns, which bounds the size of the result.
const maxExpGap = 4096

// decimal is a finite number written as sign × digits × 10^exp, with
// digits free of leading and trailing zeros. Zero has empty digits, neg
// false and exp 0, so two decimals are numerically equal exactly when
// their fields are equal.
type decimal struct {
	neg    bool
	digits string
	exp    int64
}

// parseDecimal parses the JSON number grammar. It fails on anything else
// and on exponents of more than nine digits.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return decimal{}, false
	}
	intPart := s[start:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == fs {
			return decimal{}, false
		}
		frac = s[fs:i]
	}
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == es || i-es > 9 {
			return decimal{}, false
		}
		exp, _ = strconv.ParseInt(s[es:i], 10, 64)
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return decimal{}, false
	}
	d.digits = strings.TrimLeft(intPart+frac, "0")
	d.exp = exp - int64(len(frac))
	return d.canonical(), true
}

// maxMagnitudeExp and minMagnitudeExp bound the numbers AddNumbers
// produces and an increment may carry: below 1e308 in magnitude, with no
// digit below 1e-324, the finite range of a float64, so that every client
// can read a sum (JSON parsers in browsers turn larger numbers into
// Infinity). Within it, sums are exact decimals: nothing wraps or rounds.
const (
	maxMagnitudeExp = 308
	minMagnitudeExp = -324
)

// inRange reports whether d lies within the bounds above.
func (d decimal) inRange() bool {
	return d.digits == "" || (d.exp+int64(len(d.digits)) <= maxMagnitudeExp && d.exp >= minMagnitudeExp)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// float64Holds reports whether a float64, and so a browser, reads d as a
// finite number that is 0 only when d is: not as ±Inf (1e309), nor as 0
// (1e-999999999). It is wider than inRange: 1.7976931348623157e308 and
// 1.000…0001 with more digits than a float64 keeps are read as themselves,
// or rounded to a neighbour, as any decimal is.
func (d decimal) float64Holds() bool {
	if d.digits == "" {
		return true
	}
	// d lies in [10^(e-1), 10^e): clearly finite and non-zero for
	// e in -322..308 (float64 ranges from about 4.9e-324 to 1.8e308);
	// clearly not below or above; ParseFloat decides at the edges.
	switch e := d.exp + int64(len(d.digits)); {
	case e >= minMagnitudeExp+2 && e <= maxMagnitudeExp:
		return true
	case e < minMagnitudeExp || e > maxMagnitudeExp+1:
		return false
	}
	f, _ := strconv.ParseFloat(d.String(), 64) // ErrRange goes with ±Inf
	return !math.IsInf(f, 0) && f != 0
}

// CheckNumbers reports a number in v (a value in document form, or any
// value with a JSON form) that a float64, and so a browser, would not read
// as itself (see float64Holds): one it reads as ±Inf, or as 0 although it
// has a non-zero digit (1e-999999999), where the document would hold a
// number no client shows. It does not hold values to the bounds of
// increments and their sums (inRange), which increments check themselves.
// Validate accepts every number that parses, so that the operations of
// changes stored before the bounds still decode; a value a client sends
// is checked with CheckNumbers. Errors wrap ErrRange, or ErrBadOp for a
// value with no JSON form.
func CheckNumbers(v any) error { return checkValue(v, true) }

func (d decimal) canonical() decimal {
	d.digits = strings.TrimLeft(d.digits, "0")
	if d.digits == "" {
		return decimal{}
	}
	t := len(d.digits) - len(strings.TrimRight(d.digits, "0"))
	d.digits = d.digits[:len(d.digits)-t]
	d.exp += int64(t)
	return d
}

// String formats d as a JSON number: plain notation when that stays short,
// exponent notation otherwise.
func (d decimal) String() string {
	if d.digits == "" {
		return "0"
	}
	var b strings.Builder
	if d.neg {
		b.WriteByte('-')
	}
	n := int64(len(d.digits))
	switch {
	case d.exp >= 0 && n+d.exp <= 40:
		b.WriteString(d.digits)
		b.WriteString(strings.Repeat("0", int(d.exp)))
	case d.exp >= 0:
		b.WriteString(d.digits)
		b.WriteString("e")
		b.WriteString(strconv.FormatInt(d.exp, 10))
	case -d.exp < n:
		b.WriteString(d.digits[:n+d.exp])
		b.WriteByte('.')
		b.WriteString(d.digits[n+d.exp:])
	case -d.exp-n <= 20:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", int(-d.exp-n)))
		b.WriteString(d.digits)
	default:
		b.WriteString(d.digits)
		b.WriteString("e")
		b.WriteString(strconv.FormatInt(d.exp, 10))
	}
	return b.String()
}

// numberText returns the decimal text of a JSON number held in any of the
// numeric Go types a document may contain.
func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return string(n), true
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return "", false
		}
		return strconv.FormatFloat(n, 'g', -1, 64), true
	case float32:
		f := float64(n)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", false
		}
		return strconv.FormatFloat(f, 'g', -1, 32), true
	case int:
		return strconv.FormatInt(int64(n), 10), true
	case int8:
		return strconv.FormatInt(int64(n), 10), true
	case int16:
		return strconv.FormatInt(int64(n), 10), true
	case int32:
		return strconv.FormatInt(int64(n), 10), true
	case int64:
		return strconv.FormatInt(n, 10), true
	case uint:
		return strconv.FormatUint(uint64(n), 10), true
	case uint8:
		return strconv.FormatUint(uint64(n), 10), true
	case uint16:
		return strconv.FormatUint(uint64(n), 10), true
	case uint32:
		return strconv.FormatUint(uint64(n), 10), true
	case uint64:
		return strconv.FormatUint(n, 10), true
	}
	return "", false
}

// isNumber reports whether v has one of the numeric Go types.
func isNumber(v any) bool {
	_, ok := numberText(v)
	return ok
}

// toDecimal converts a numeric Go value to a decimal.
func toDecimal(v any) (decimal, bool) {
	s, ok := numberText(v)
	if !ok {
		return decimal{}, false
	}
	return parseDecimal(s)
}

// AddNumbers returns a + b computed exactly in decimal, so that increments
// commute: (x+a)+b and (x+b)+a are the same number. The operands may be
// json.Number, float64 (taken at its shortest decimal form) or any integer
// type. It fails with ErrBadOp when an operand is not a number and with
// ErrRange when the operands' magnitudes are too far apart (more than 4096
// decimal orders) to add exactly or the sum is 1e308 or more in magnitude
// or has a digit below 1e-324 (outside the finite range of a float64).
func AddNumbers(a, b any) (json.Number, error) {
	x, ok := toDecimal(a)
	if !ok {
		return "", fmt.Errorf("add numbers: %q is not a number: %w", clip(fmt.Sprint(a)), ErrBadOp)
	}
	y, ok := toDecimal(b)
	if !ok {
		return "", fmt.Errorf("add numbers: %q is not a number: %w", clip(fmt.Sprint(b)), ErrBadOp)
	}
	sum, err := addDecimal(x, y)
	if err == nil && !sum.inRange() {
		err = ErrRange
	}
	if err != nil {
		return "", fmt.Errorf("add numbers %q and %q: %w", x.String(), y.String(), err)
	}
	return json.Number(sum.String()), nil
}

func addDecimal(x, y decimal) (decimal, error) {
	if x.digits == "" {
		return y, nil
	}
	if y.digits == "" {
		return x, nil
	}
	if x.exp < y.exp {
		x, y = y, x
	}
	gap := x.exp - y.exp // x has the larger exponent
	if gap > maxExpGap {
		return decimal{}, ErrRange
	}
	mx, _ := new(big.Int).SetString(x.digits, 10)
	my, _ := new(big.Int).SetString(y.digits, 10)
	if gap > 0 {
		mx.Mul(mx, new(big.Int).Exp(big.NewInt(10), big.NewInt(gap), nil))
	}
	if x.neg {
		mx.Neg(mx)
	}
	if y.neg {
		my.Neg(my)
	}
	mx.Add(mx, my)
	out := decimal{neg: mx.Sign() < 0, exp: y.exp}
	out.digits = mx.Abs(mx).String()
	return out.canonical(), nil
}

// negateNumber returns -n as JSON number text.
func negateNumber(n json.Number) (json.Number, bool) {
	d, ok := parseDecimal(string(n))
	if !ok {
		return "", false
	}
	if d.digits != "" {
		d.neg = !d.neg
	}
	return json.Number(d.String()), true
}

// equalNumbers compares two numeric values by value.
func equalNumbers(a, b any) bool {
	sa, _ := numberText(a)
	sb, _ := numberText(b)
	if sa == sb {
		return true
	}
	x, okx := parseDecimal(sa)
	y, oky := parseDecimal(sb)
	return okx && oky && x == y
}
