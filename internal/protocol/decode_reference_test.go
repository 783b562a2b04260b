package protocol

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// decodeReference is Decode as it was written with encoding/json: the
// frame parsed once for messageId and once more for the envelope, then the
// payload walked token by token by CheckPayload. Decode's one-pass scanner
// must agree with it on every frame.
func decodeReference(data []byte) (Envelope, error) {
	var env Envelope
	trimmed, err := frameObject(data)
	if err != nil {
		return env, err
	}
	// Read messageId first, leniently, so errors can still be correlated.
	var probe struct {
		MessageID json.RawMessage `json:"messageId"`
	}
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		return env, NewError(CodeBadFrame, "frame is not valid JSON")
	}
	var mid string
	if len(probe.MessageID) > 0 && json.Unmarshal(probe.MessageID, &mid) == nil && validID(mid) {
		env.MessageID = mid
	}
	var raw struct {
		Type      *string         `json:"type"`
		Channel   *string         `json:"channel"`
		Payload   json.RawMessage `json:"payload"`
		Timestamp json.RawMessage `json:"timestamp"`
		MessageID *string         `json:"messageId"`
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&raw); err != nil {
		return env, NewError(CodeBadRequest, "envelope fields have the wrong types")
	}
	if dec.More() {
		return env, NewError(CodeBadFrame, "trailing data after the JSON object")
	}
	if raw.Type == nil || *raw.Type == "" {
		return env, NewError(CodeBadRequest, "missing field %q", "type")
	}
	if len(*raw.Type) > 64 {
		return env, NewError(CodeBadRequest, "field %q is too long", "type")
	}
	env.Type = *raw.Type
	if raw.MessageID == nil || *raw.MessageID == "" {
		return env, NewError(CodeBadRequest, "missing field %q", "messageId")
	}
	if !validID(*raw.MessageID) {
		return env, NewError(CodeBadRequest, "field %q must be 1..%d printable ASCII characters", "messageId", MaxMessageIDLen)
	}
	env.MessageID = *raw.MessageID
	if raw.Channel != nil && *raw.Channel != "" {
		if err := ValidateChannel(*raw.Channel); err != nil {
			return env, err
		}
		env.Channel = *raw.Channel
	}
	if len(raw.Payload) > 0 && !bytes.Equal(raw.Payload, []byte("null")) {
		env.Payload = raw.Payload
	}
	folded, err := checkPayload(env.Payload)
	if err != nil {
		return env, err
	}
	env.names = namesDistinct
	if folded {
		env.names = namesFolded
	}
	if len(raw.Timestamp) > 0 {
		var ts string
		if json.Unmarshal(raw.Timestamp, &ts) == nil && len(ts) <= 64 {
			env.Timestamp = ts
		}
	}
	return env, nil
}

// sameDecode fails t when Decode and decodeReference disagree on data:
// the envelope, or the error's code and message.
func sameDecode(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := Decode(data)
	want, wantErr := decodeReference(data)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%q) = %+v, reference %+v", data, got, want)
	}
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("Decode(%q) error %v, reference %v", data, gotErr, wantErr)
	}
}

// TestDecodeMatchesReference runs both decoders over frames chosen for the
// scanner's edge cases and over the FuzzDecode seed corpus.
func TestDecodeMatchesReference(t *testing.T) {
	frames := []string{
		`{"type":"ping","messageId":"m1"}`,
		`{"type":"publish","channel":"order:1","payload":{"a":[1,2.5e3,-0.1,true,false,null,"s"]},"messageId":"m2","timestamp":"t"}`,
		`{"TYPE":"ping","MessageID":"m1"}`,
		"{\"type\":\"ping\",\"me\u017fsageId\":\"m1\"}",           // long s folds to S
		"{\"type\":\"ping\",\"messageId\":\"m1\",\"\u212aey\":1}", // Kelvin sign
		`{"type":"ping","messageId":"m1","messageId":"m2"}`,
		`{"type":"ping","messageId":"m1","messageId":2}`,
		`{"type":"ping","messageId":2,"messageId":"m1"}`,
		`{"type":"ping","messageId":null}`,
		`{"type":null,"messageId":"m"}`,
		`{"type":"a","type":null,"messageId":"m"}`,
		`{"type":"p\u0069ng","messageId":"m\u0031"}`,
		`{"type":"ping","messageId":"m","timestamp":"\ud800"}`,
		`{"type":"ping","messageId":"m","timestamp":5}`,
		`{"type":"ping","messageId":"m","timestamp":"` + strings.Repeat("t", 65) + `"}`,
		`{"type":"p","messageId":"m","payload":null}`,
		`{"type":"p","messageId":"m","payload":{"a":1},"payload":null}`,
		`{"type":"p","messageId":"m","payload":1e400}`,
		`{"type":"p","messageId":"m","payload":-` + strings.Repeat("9", 320) + `}`,
		`{"type":"p","messageId":"m","payload":` + strings.Repeat("9", 299) + `}`,
		`{"type":"p","messageId":"m","payload":1e400,"payload":1}`,
		`{"type":"p","messageId":"m","payload":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`,
		`{"type":"p","messageId":"m","payload":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}`,
		`{"type":"p","messageId":"m","payload":[` + strings.Repeat("1,", 1000) + `1]}`,
		`{"type":"p","messageId":"m","payload":[` + strings.Repeat("1,", 999) + `1]}`,
		`{"type":"p","messageId":"m","payload":{"` + strings.Repeat("k", 257) + `":1}}`,
		`{"type":"p","messageId":"m","payload":{"` + strings.Repeat("\\u0041", 50) + `":1}}`,
		`{"type":"p","messageId":"m","payload":"` + strings.Repeat("\\n", 9000) + `"}`,
		`{"type":"p","messageId":"m","payload":"` + strings.Repeat(`\\n`, 9000) + `"}`,
		`{"type":"p","messageId":"m","payload":{"` + strings.Repeat(`\\u0041`, 50) + `":1}}`,
		`{"type":"p","messageId":"m","payload":"` + strings.Repeat("x", MaxStringBytes+1) + `"}`,
		`{"type":"p","messageId":"m","payload":` + strings.Repeat("[", 40) + `1` + strings.Repeat("]", 39) + `}`,
		`{"type":"p","messageId":"m","x":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`,
		`{"type":"p","messageId":"m","x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
		`{"type":"p","messageId":"m","x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		`{"type":"p","messageId":"m","x":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat("}", 5000) + `}`,
		`{"type":5,"messageId":"m","payload":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}`,
		`{"type":"p","channel":"a#b","messageId":"m","payload":1e400}`,
		`{"type":"p","channel":7,"messageId":"m"}`,
		`{"type":"` + strings.Repeat("t", 65) + `","messageId":"m"}`,
		` {"type":"ping","messageId":"m"} `,
		"\u00a0{\"type\":\"ping\",\"messageId\":\"m\"}\u00a0",
		`{"type":"ping","messageId":"m"} {}`,
		`{"type":"ping","messageId":"m"}}`,
		`{"type":"ping","messageId":"m",}`,
		`{"type":"ping" "messageId":"m"}`,
		`{"type":"ping","messageId":"m","n":01}`,
		`{"type":"ping","messageId":"m","n":1.}`,
		`{"type":"ping","messageId":"m","n":-}`,
		`{"type":"ping","messageId":"m","n":1e}`,
		`{"type":"ping","messageId":"m","n":tru}`,
		`{"type":"ping","messageId":"m","s":"\x"}`,
		`{"type":"ping","messageId":"m","s":"\u12G4"}`,
		"{\"type\":\"ping\",\"messageId\":\"m\",\"s\":\"\t\"}",
		`{}`,
		`{"type":"ping","messageId":"m","payload":{}}`,
		`{"type":"ping","messageId":"m","payload":[]}`,
		`{"type":"ping","messageId":"m","payload": { "a" : [ 1 , 2 ] } }`,
		`{"type":"p","messageId":"m","payload":{"text":"a","TEXT":"b"}}`,
		`{"type":"p","messageId":"m","payload":{"text":"a","text":null}}`,
		"{\"type\":\"p\",\"messageId\":\"m\",\"payload\":{\"kind\":1,\"\u212aind\":2}}",
		`{"type":"p","messageId":"m","payload":{"s":1,"\u017f":2}}`,
		`{"type":"p","messageId":"m","payload":[{"a":{"b":1,"B":2}}]}`,
		`{"type":"p","messageId":"m","payload":{"a":1,"A":1e400}}`,
		`{"type":"p","messageId":"m","payload":{"a":1e400,"a":1}}`,
		`{"type":"p","messageId":"m","payload":{"` + strings.Repeat("k", 257) + `":1,"` + strings.Repeat("K", 257) + `":1}}`,
		`{"type":"p","messageId":"m","payload":{"a":1,"A":2},"payload":{"a":1}}`,
		`{"type":"p","messageId":"m","payload":{"a":1},"payload":{"a":1,"A":2}}`,
		`{"type":"p","messageId":"m","x":{"a":1,"A":2},"payload":{"a":{"a":1}}}`,
	}
	for _, f := range frames {
		sameDecode(t, []byte(f))
	}
	paths, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// Corpus files are "go test fuzz v1" followed by []byte("...").
		lines := strings.SplitN(string(data), "\n", 2)
		if len(lines) < 2 {
			continue
		}
		frame, ok := corpusBytes(strings.TrimSpace(lines[1]))
		if !ok {
			t.Fatalf("%s: cannot read corpus entry", p)
		}
		sameDecode(t, frame)
	}
}

// corpusBytes reads a []byte("...") line of a fuzz corpus file.
func corpusBytes(line string) ([]byte, bool) {
	line, ok := strings.CutPrefix(line, "[]byte(")
	if !ok {
		return nil, false
	}
	line, ok = strings.CutSuffix(line, ")")
	if !ok {
		return nil, false
	}
	s, err := strconv.Unquote(line)
	return []byte(s), err == nil
}

// FuzzDecodeMatchesReference compares Decode with decodeReference on
// arbitrary frames.
func FuzzDecodeMatchesReference(f *testing.F) {
	f.Add([]byte(`{"type":"publish","channel":"order:1","payload":{"a":[1,2,{"b":null}]},"messageId":"m2"}`))
	f.Add([]byte(`{"Type":"x","MESSAGEID":"m","payload":[[["\u0041"]]],"payload":1e999}`))
	f.Add([]byte(`{"type":"x","messageId":"m","payload":{"a":1,"b":{"c":2,"C":3},"\u0041":4}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecode(t, data)
	})
}
