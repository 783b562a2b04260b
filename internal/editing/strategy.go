package editing

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/omnisales/rtcollab/internal/ident"
)

// Strategy names a conflict strategy.
type Strategy string

// The conflict strategies.
const (
	LastWriteWins        Strategy = "last-write-wins"
	OperationalTransform Strategy = "operational-transform"
	CRDT                 Strategy = "crdt"
	LockBased            Strategy = "lock-based"
	Manual               Strategy = "manual"
)

// Strategies lists every strategy.
func Strategies() []Strategy {
	return []Strategy{LastWriteWins, OperationalTransform, CRDT, LockBased, Manual}
}

// Valid reports whether s is one of the strategies.
func (s Strategy) Valid() bool { return slices.Contains(Strategies(), s) }

// aliases are the short names ParseStrategy also accepts.
var aliases = map[string]Strategy{
	"lww":    LastWriteWins,
	"ot":     OperationalTransform,
	"lock":   LockBased,
	"locked": LockBased,
}

// ParseStrategy reads a strategy name, case-insensitively; it also accepts
// the short names lww, ot and lock.
func ParseStrategy(name string) (Strategy, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if s := Strategy(n); s.Valid() {
		return s, nil
	}
	if s, ok := aliases[n]; ok {
		return s, nil
	}
	return "", fmt.Errorf("parse strategy %q: want one of %v", name, Strategies())
}

// DefaultStrategy is the strategy of entity types the table does not name.
const DefaultStrategy = LastWriteWins

// DefaultStrategies returns the default strategy per entity type:
//
//	entity type   strategy                why
//	order         lock-based              one person edits an order at a time
//	inventory     crdt                    stock movements must add up, never overwrite
//	customer      operational-transform   several people edit different fields and notes
//	pricing       manual                  a price is never overwritten without a decision
//	anything else last-write-wins
func DefaultStrategies() map[string]Strategy {
	return map[string]Strategy{
		"order":     LockBased,
		"inventory": CRDT,
		"customer":  OperationalTransform,
		"pricing":   Manual,
	}
}

// Fallback is the entity-type key of a strategy table entry that applies
// to every type the table does not name.
const Fallback = "*"

// ParseStrategies reads a strategy table such as
// "order=lock-based,inventory=crdt,*=manual": comma-separated
// type=strategy pairs, where the type "*" sets the strategy of every other
// type. It returns the table and the fallback ("" when the spec sets
// none). Blank entries are ignored; a type named twice is an error.
func ParseStrategies(spec string) (map[string]Strategy, Strategy, error) {
	table := map[string]Strategy{}
	var fallback Strategy
	seen := map[string]bool{}
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		typ, name, ok := strings.Cut(entry, "=")
		typ = strings.TrimSpace(typ)
		if !ok || typ == "" {
			return nil, "", fmt.Errorf("parse strategies: entry %q: want type=strategy", entry)
		}
		if typ != Fallback {
			if err := ValidateName("entity type", typ); err != nil {
				return nil, "", fmt.Errorf("parse strategies: %w", err)
			}
		}
		if seen[typ] {
			return nil, "", fmt.Errorf("parse strategies: type %q named twice", typ)
		}
		seen[typ] = true
		s, err := ParseStrategy(name)
		if err != nil {
			return nil, "", fmt.Errorf("parse strategies: type %q: %w", typ, err)
		}
		if typ == Fallback {
			fallback = s
		} else {
			table[typ] = s
		}
	}
	return table, fallback, nil
}

// Table maps entity types to strategies, with a fallback. The zero Table
// gives every type DefaultStrategy.
type Table struct {
	Types    map[string]Strategy
	Fallback Strategy
}

// For returns the strategy of entity type typ.
func (t Table) For(typ string) Strategy {
	if s, ok := t.Types[typ]; ok {
		return s
	}
	if t.Fallback != "" {
		return t.Fallback
	}
	return DefaultStrategy
}

// Merge returns t with the entries of over added or replaced, and over's
// fallback when it has one.
func (t Table) Merge(over map[string]Strategy, fallback Strategy) Table {
	out := Table{Types: maps.Clone(t.Types), Fallback: t.Fallback}
	if out.Types == nil {
		out.Types = map[string]Strategy{}
	}
	maps.Copy(out.Types, over)
	if fallback != "" {
		out.Fallback = fallback
	}
	return out
}

// MaxNameLen bounds entity types and ids (ident.Name).
const MaxNameLen = ident.MaxNameLen

// ValidateName checks an entity type or id with ident.Check: 1..64
// characters of [A-Za-z0-9._-], so that "type:id" is a valid channel name
// and no key separator can appear. what names the field in the error.
func ValidateName(what, name string) error {
	return ident.Check(ident.Name.Named(what), name)
}
