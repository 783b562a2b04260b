package ot_test

import (
	"fmt"

	"github.com/omnisales/rtcollab/internal/doc"
	"github.com/omnisales/rtcollab/internal/ot"
)

func ExampleTransformAgainst() {
	// A client edited items[1] at version 7; meanwhile versions 8 and 9
	// inserted a line at the top and deleted the status note.
	incoming := doc.Op{Kind: doc.Update, Path: "items[1].qty", Value: 4}
	history := []doc.Op{
		{Kind: doc.Insert, Path: "items[0]", Value: map[string]any{"sku": "Z"}},
		{Kind: doc.Delete, Path: "note"},
	}
	rebased, ok, notices := ot.TransformAgainst(incoming, history)
	fmt.Println(rebased.Path, ok, len(notices))
	// Output: items[2].qty true 0
}
