package doc_test

import (
	"fmt"

	"github.com/omnisales/rtcollab/internal/doc"
)

func ExampleApply() {
	order, _ := doc.Decode([]byte(`{"items":[{"sku":"A","qty":2}],"notes":"ส่งด่วน"}`))
	order, _ = doc.Apply(order, doc.Op{Kind: doc.Increment, Path: "items[0].qty", Delta: "3"})
	order, _ = doc.Apply(order, doc.Op{Kind: doc.Text, Path: "$.notes", Text: []doc.TextComponent{
		doc.TextRetain(3), doc.TextInsert("!"),
	}})
	qty, _ := doc.Get(order, "items[0].qty")
	notes, _ := doc.Get(order, "notes")
	fmt.Println(qty, notes)
	// Output: 5 ส่ง!ด่วน
}

func ExampleInverse() {
	before, _ := doc.Decode([]byte(`{"status":"draft"}`))
	op := doc.Op{Kind: doc.Update, Path: "status", Value: "paid"}
	undo, _ := doc.Inverse(before, op)
	after, _ := doc.Apply(before, op)
	back, _ := doc.Apply(after, undo)
	fmt.Println(after["status"], back["status"])
	// Output: paid draft
}
