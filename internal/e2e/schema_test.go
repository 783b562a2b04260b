package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/gateway"
)

// recorder is a testing.TB that keeps the failures reported to it instead
// of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestClientChecksFrames shows that the test client's schema check can
// fail: a request whose channel is a number, sent through the checked
// path, is reported, while the same request marked bad() is not; and a
// reply whose payload has the wrong type fails the conversation.
func TestClientChecksFrames(t *testing.T) {
	srv := startServer(t, app.Settings{DevIdentity: true}, gateway.Config{})
	const wrongType = `{"type":"subscribe","channel":42,"messageId":"typed-1"}`

	checked := dial(t, srv, "alice")
	rec := &recorder{TB: t}
	checked.report = &recorder{TB: t} // the failure below is expected
	if err := checked.write(context.Background(), []byte(wrongType), true); err != nil {
		t.Fatal(err)
	}
	if f := checked.next(); f.ReplyTo != "typed-1" || f.Type != "error" {
		t.Fatalf("reply to a numeric channel = %+v, want an error", f)
	}
	checked.checkConversation(rec)
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "does not match") {
		t.Fatalf("a request with a numeric channel was reported as %q, want one schema failure", rec.errs)
	}

	unchecked := dial(t, srv, "bob")
	if err := unchecked.bad().write(context.Background(), []byte(wrongType), true); err != nil {
		t.Fatal(err)
	}
	unchecked.next()
	if errs := unchecked.conv.Errors(); len(errs) != 0 {
		t.Fatalf("a request marked bad() was checked: %v", errs)
	}

	s, err := spec()
	if err != nil {
		t.Fatal(err)
	}
	conv := s.NewConversation()
	if err := conv.Sent([]byte(`{"type":"ping","messageId":"p-1"}`)); err != nil {
		t.Fatalf("a well-formed ping fails the schema: %v", err)
	}
	if err := conv.Received([]byte(`{"type":"pong","replyTo":"p-1","payload":"late"}`)); err == nil {
		t.Fatal("a pong whose payload is a string passed the schema")
	}
	if len(conv.Errors()) != 1 {
		t.Fatalf("conversation errors = %v, want the pong's", conv.Errors())
	}
}
