package ot_test

import (
	"testing"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/ot"
)

func BenchmarkTransform(b *testing.B) {
	edit := func(n int) []doc.TextComponent {
		var comps []doc.TextComponent
		for i := range n {
			comps = append(comps, doc.TextRetain(3+i), doc.TextDelete(1), doc.TextInsert("ab"))
		}
		return comps
	}
	benches := []struct {
		name string
		a, b doc.Op
	}{
		{"disjoint", upd("customer.name", "A"), upd("status", "paid")},
		{"list-shift", upd("items[12].qty", 3), ins("items[4]", map[string]any{"sku": "Z"})},
		{"delete-drop", upd("items[4].qty", 3), del("items[4]")},
		{"update-update", upd("status", "paid"), upd("status", "void")},
		{"move-move", mov("items", 3, 9), mov("items", 7, 1)},
		{"text-small", txt("notes", doc.TextRetain(10), doc.TextInsert("x")), txt("notes", doc.TextRetain(4), doc.TextDelete(3))},
		{"text-50-components", txt("notes", edit(50)...), txt("notes", edit(40)...)},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ot.TransformSide(bb.a, bb.b, true)
			}
		})
	}
}

func BenchmarkTransformAgainst(b *testing.B) {
	history := make([]doc.Op, 0, 50)
	for i := range 50 {
		switch i % 3 {
		case 0:
			history = append(history, ins("items[0]", i))
		case 1:
			history = append(history, upd("status", i))
		default:
			history = append(history, txt("notes", doc.TextInsert("x")))
		}
	}
	a := upd("items[7].qty", 1)
	b.ReportAllocs()
	for b.Loop() {
		ot.TransformAgainst(a, history)
	}
}
