package crdt

import (
	"errors"
	"math"
	"testing"
	"time"
)

func ms(n int64) time.Time { return time.UnixMilli(n) }

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b HLC
		want int
	}{
		{"equal", HLC{5, 1, "a"}, HLC{5, 1, "a"}, 0},
		{"wall first", HLC{4, 9, "z"}, HLC{5, 0, "a"}, -1},
		{"counter second", HLC{5, 2, "a"}, HLC{5, 1, "z"}, 1},
		{"node breaks ties", HLC{5, 1, "alice"}, HLC{5, 1, "bob"}, -1},
		{"zero is smallest", HLC{}, HLC{0, 0, "a"}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Fatalf("Compare(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(tt.b, tt.a); got != -tt.want {
				t.Fatalf("Compare(%v, %v) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestNow(t *testing.T) {
	tests := []struct {
		name     string
		physical int64
		last     HLC
		want     HLC
	}{
		{"first event", 100, HLC{Node: "n"}, HLC{100, 0, "n"}},
		{"clock advanced", 200, HLC{100, 7, "n"}, HLC{200, 0, "n"}},
		{"same millisecond", 100, HLC{100, 7, "n"}, HLC{100, 8, "n"}},
		{"clock went back", 50, HLC{100, 7, "n"}, HLC{100, 8, "n"}},
		{"counter overflow", 100, HLC{100, math.MaxUint32, "n"}, HLC{101, 0, "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Now(ms(tt.physical), tt.last)
			if got != tt.want {
				t.Fatalf("Now = %v, want %v", got, tt.want)
			}
			if Compare(got, tt.last) <= 0 {
				t.Fatalf("Now = %v is not after %v", got, tt.last)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	tests := []struct {
		name          string
		physical      int64
		local, remote HLC
		want          HLC
	}{
		{"physical ahead", 300, HLC{100, 3, "l"}, HLC{200, 9, "r"}, HLC{300, 0, "l"}},
		{"remote ahead", 100, HLC{100, 3, "l"}, HLC{200, 9, "r"}, HLC{200, 10, "l"}},
		{"local ahead", 100, HLC{300, 3, "l"}, HLC{200, 9, "r"}, HLC{300, 4, "l"}},
		{"same wall", 100, HLC{200, 3, "l"}, HLC{200, 9, "r"}, HLC{200, 10, "l"}},
		{"overflow", 100, HLC{200, math.MaxUint32, "l"}, HLC{200, 1, "r"}, HLC{201, 0, "l"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Update(tt.local, tt.remote, ms(tt.physical))
			if got != tt.want {
				t.Fatalf("Update = %v, want %v", got, tt.want)
			}
			if Compare(got, tt.local) <= 0 || Compare(got, tt.remote) <= 0 {
				t.Fatalf("Update = %v is not after both inputs", got)
			}
		})
	}
}

func TestCheckSkew(t *testing.T) {
	tests := []struct {
		name   string
		remote int64
		want   error
	}{
		{"behind", 500, nil},
		{"within limit", 1000 + 999, nil},
		{"too far ahead", 1000 + 1001, ErrClockSkew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSkew(HLC{WallMs: tt.remote, Node: "r"}, ms(1000), time.Second)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckSkew = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestCheckSkewExtremes checks stamps at the ends of int64: the check is
// done without a Duration product, which used to wrap and let stamps
// thousands of years ahead through.
func TestCheckSkewExtremes(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	wrapsDuration := now.UnixMilli() + math.MaxInt64/int64(time.Millisecond) + 1 // (x-now)*1e6 passes MaxInt64
	tests := []struct {
		name    string
		wall    int64
		counter uint32
		want    error
	}{
		{"largest wall time", math.MaxInt64, math.MaxUint32, ErrClockSkew},
		{"largest wall time, counter 0", math.MaxInt64, 0, ErrClockSkew},
		{"ahead by more than a Duration holds", wrapsDuration, 0, ErrClockSkew},
		{"smallest wall time", math.MinInt64, 0, ErrClockSkew},
		{"negative wall time", -1, 0, ErrClockSkew},
		{"at the limit, last counter", now.UnixMilli() + 1000, math.MaxUint32, ErrClockSkew},
		{"at the limit", now.UnixMilli() + 1000, math.MaxUint32 - 1, nil},
		{"zero", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := HLC{WallMs: tt.wall, Counter: tt.counter, Node: "r"}
			err := CheckSkew(remote, now, time.Second)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("CheckSkew = %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			got := Update(HLC{WallMs: now.UnixMilli(), Node: "s"}, remote, now)
			if got.WallMs > Limit(now, time.Second) || got.WallMs < 0 {
				t.Fatalf("Update after an accepted stamp = %v, beyond the limit %d", got, Limit(now, time.Second))
			}
		})
	}
	if l := Limit(time.UnixMilli(math.MaxInt64-5), time.Hour); l != math.MaxInt64 {
		t.Fatalf("Limit near the end of int64 = %d, want saturation", l)
	}
	if got := Update(HLC{WallMs: math.MaxInt64, Counter: math.MaxUint32}, HLC{}, now); got.WallMs != math.MaxInt64 {
		t.Fatalf("Update at the last stamp wrapped to %v", got)
	}
}
