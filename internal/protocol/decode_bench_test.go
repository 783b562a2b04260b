package protocol

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/tools/benchcpu"
)

// publishFrame returns a publish frame of about n bytes whose payload is a
// list of order lines: objects with strings, numbers and a nested object,
// the shape of the back office's updates.
func publishFrame(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"publish","channel":"order:1","messageId":"m-0001","timestamp":"2026-01-02T03:04:05.000Z","payload":{"lines":[`)
	for i := 0; b.Len() < n-120; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%06d","qty":%d,"price":%d.%02d,"note":"line %d \u00e9t\u00e9","tags":["a","b"],"ship":{"by":"2026-02-01","express":%t}}`,
			i, i%7+1, 10+i%90, i%100, i, i%2 == 0)
	}
	b.WriteString(`],"status":"paid"}}`)
	return []byte(b.String())
}

// BenchmarkDecode compares protocol.Decode with two baselines on publish
// frames of 256 B, 8 KB and 32 KB (the largest a client may send):
// decoder=unmarshal is one encoding/json Unmarshal into Envelope with the
// payload kept raw, without any of Decode's checks; decoder=reference is
// Decode as it was written with encoding/json (the frame parsed twice,
// then the payload walked token by token).
func BenchmarkDecode(b *testing.B) {
	for _, size := range []int{256, 8 << 10, 32 << 10} {
		data := publishFrame(size)
		if len(data) > MaxClientFrameBytes {
			b.Fatalf("frame of %d bytes exceeds the client limit", len(data))
		}
		decoders := []struct {
			name   string
			decode func([]byte) error
		}{
			{"decode", func(d []byte) error { _, err := Decode(d); return err }},
			{"unmarshal", func(d []byte) error { var env Envelope; return json.Unmarshal(d, &env) }},
			{"reference", func(d []byte) error { _, err := decodeReference(d); return err }},
		}
		for _, dec := range decoders {
			b.Run("bytes="+strconv.Itoa(size)+"/decoder="+dec.name, func(b *testing.B) {
				if err := dec.decode(data); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				stop := benchcpu.Start(b)
				for b.Loop() {
					if err := dec.decode(data); err != nil {
						b.Fatal(err)
					}
				}
				stop()
			})
		}
	}
}
