// Package doc models an entity document (a JSON object) and the single-step
// operations a change applies to it. Everything here is pure: no I/O, no
// clocks, and no function mutates its arguments.
//
// # Documents
//
// A document is a map[string]any holding only JSON types: map[string]any,
// []any, string, bool, nil and numbers. Numbers are kept as json.Number so
// that large integers and decimal prices survive unchanged; Decode produces
// this form and Normalize converts any other JSON-compatible Go value to it.
// Functions that read numbers also accept float64 and the integer types, so
// documents built by hand work too.
//
// # Paths
//
// The primary path syntax is dot/bracket: "customer.name", "items[2].qty",
// with an optional leading "$" or "$." ("$.items[0]"). Keys that are empty
// or contain '.', '[', ']' or '"' (or start with '$') are written in
// brackets as JSON strings: `lines["unit.price"]`. The first segment is
// always a key because the document root is an object. ParsePath bounds
// depth (MaxDepth), key length (MaxKeyLen), list indexes (MaxIndex) and the
// raw string (MaxPathLen) and reports violations with ErrBadPath.
//
// # Operations
//
// Op is one operation; its JSON form is
//
//	{"op":"insert","path":"items[2]","value":{...}}
//	{"op":"update","path":"customer.name","value":"Somchai"}
//	{"op":"delete","path":"items[0]"}
//	{"op":"move","path":"items","from":3,"to":0}
//	{"op":"increment","path":"stock.onHand","delta":-2}
//	{"op":"text","path":"notes","text":[{"retain":4},{"delete":2},{"insert":"สวัสดี"}]}
//
// See Op for the exact semantics of each kind.
//
// Entry points: Apply applies an Op and returns the new document; Inverse
// builds the Op that undoes it; Get reads a path; ParsePath and Path.String
// convert paths; Decode, Normalize, Clone and Equal handle document values;
// ApplyText, InvertText and NormalizeText handle text edits; AddNumbers adds
// two JSON numbers exactly.
package doc
