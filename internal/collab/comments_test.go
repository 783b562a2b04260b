package collab_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/collab"
	"github.com/omnisales/rtcollab/internal/protocol"
)

func TestAddComment(t *testing.T) {
	e := entity("order", "o1")
	tests := []struct {
		name   string
		text   string
		parent string
		code   protocol.Code
	}{
		{"plain", "  looks good  ", "", ""},
		{"at the bound", strings.Repeat("€", 4000), "", ""},
		{"reply", "agreed", "PARENT", ""},
		{"empty", " \n\t", "", protocol.CodeBadRequest},
		{"over the bound", strings.Repeat("€", 4001), "", protocol.CodeBadRequest},
		{"unknown parent", "x", "0000000000001-abc", protocol.CodeNotFound},
		{"malformed parent", "x", "a#b", protocol.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, collab.Config{})
			parent, err := f.svc.AddComment(f.ctx, f.call("bob", "p"), e, protocol.CommentAddPayload{EntityRef: ref(e), Text: "first"})
			if err != nil {
				t.Fatal(err)
			}
			f.rec.take()
			p := protocol.CommentAddPayload{EntityRef: ref(e), Text: tt.text, ParentID: tt.parent}
			if p.ParentID == "PARENT" {
				p.ParentID = parent.Comment.ID
			}
			r, err := f.svc.AddComment(f.ctx, f.call("ann", "c"), e, p)
			if tt.code != "" {
				wantCode(t, err, tt.code)
				if ev := f.rec.take(); len(ev) != 0 {
					t.Errorf("a refused comment announced %+v", ev)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Comment.Text != strings.TrimSpace(tt.text) || r.Comment.UserID != "ann" || r.Comment.ParentID != p.ParentID {
				t.Errorf("comment %+v", r.Comment)
			}
			events := f.rec.take()
			if len(events) != 2 || events[0].channel != protocol.ChannelComments || events[1].channel != "order:o1" ||
				events[0].payload.(protocol.CommentEvent).Action != protocol.CommentAdded {
				t.Errorf("events %+v, want the comment added on comments and the entity channel", events)
			}
		})
	}
}

// TestAddCommentIdempotency: a resend adds nothing, gets the recorded
// reply and announces the comment again under the same messageId; another
// request under the messageId is IDEMPOTENCY_MISMATCH.
func TestAddCommentIdempotency(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("order", "o1")
	p := protocol.CommentAddPayload{EntityRef: ref(e), Text: "<b>once</b>"}
	first, err := f.svc.AddComment(f.ctx, f.call("ann", "m"), e, p)
	if err != nil {
		t.Fatal(err)
	}
	announced := ids(f.rec.take())
	f.now = f.now.Add(time.Second)
	again, err := f.svc.AddComment(f.ctx, f.call("ann", "m"), e, p)
	if err != nil || again != first {
		t.Fatalf("resend = %+v, %v; want %+v", again, err, first)
	}
	if got := ids(f.rec.take()); !slices.Equal(got, announced) {
		t.Errorf("a resend announced %q, want %q", got, announced)
	}
	c := f.call("ann", "m")
	c.RequestHash = "other"
	_, err = f.svc.AddComment(f.ctx, c, e, protocol.CommentAddPayload{EntityRef: ref(e), Text: "another"})
	wantCode(t, err, protocol.CodeIdempotencyMismatch)
	l, err := f.svc.ListComments(f.ctx, e, protocol.CommentListPayload{EntityRef: ref(e)})
	if err != nil || len(l.Comments) != 1 {
		t.Errorf("list = %d comments, %v; want 1", len(l.Comments), err)
	}
}

func TestResolveComment(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("order", "o1")
	added, err := f.svc.AddComment(f.ctx, f.call("ann", "m"), e, protocol.CommentAddPayload{EntityRef: ref(e), Text: "fix"})
	if err != nil {
		t.Fatal(err)
	}
	id := added.Comment.ID
	cur, err := f.svc.Comment(f.ctx, e, id)
	if err != nil || cur.UserID != "ann" {
		t.Fatalf("Comment = %+v, %v; want ann's", cur, err)
	}
	if added.Comment.Version != 1 {
		t.Errorf("added comment at version %d, want 1", added.Comment.Version)
	}
	for _, step := range []struct {
		resolved bool
		action   string
		version  int64
	}{{true, protocol.CommentResolved, 2}, {false, protocol.CommentReopened, 3}} {
		f.rec.take()
		r, err := f.svc.ResolveComment(f.ctx, f.call("bob", "r"), e, id, step.resolved)
		if err != nil || r.Comment.Resolved != step.resolved || r.Comment.Version != step.version {
			t.Fatalf("ResolveComment(%v) = %+v, %v; want version %d", step.resolved, r, err, step.version)
		}
		if step.resolved && (r.Comment.ResolvedBy != "bob" || r.Comment.ResolvedAt == "") {
			t.Errorf("resolved comment %+v", r.Comment)
		}
		ev := f.rec.take()
		if len(ev) != 2 {
			t.Fatalf("events %+v, want %s on two channels", ev, step.action)
		}
		for _, e := range ev {
			if p := e.payload.(protocol.CommentEvent); p.Action != step.action || p.Comment != r.Comment {
				t.Errorf("event %+v, want %s of %+v", p, step.action, r.Comment)
			}
		}
	}
	for _, tt := range []struct {
		id   string
		code protocol.Code
	}{{"0000000000001-abc", protocol.CodeNotFound}, {"", protocol.CodeBadRequest}, {strings.Repeat("a", 500), protocol.CodeBadRequest}} {
		_, err := f.svc.Comment(f.ctx, e, tt.id)
		wantCode(t, err, tt.code)
	}
	_, err = f.svc.ResolveComment(f.ctx, f.call("bob", "r"), e, "0000000000001-abc", true)
	wantCode(t, err, protocol.CodeNotFound)
}

// TestListComments pages 30 comments of about 9 KB, newest first: every
// page fits in a reply and the cursors list each comment once.
func TestListComments(t *testing.T) {
	f := newFixture(t, collab.Config{})
	e := entity("order", "o1")
	text := strings.Repeat("<", 1500) // 9 KB as escaped JSON
	var ids []string
	for i := range 30 {
		r, err := f.svc.AddComment(f.ctx, f.call("ann", fmt.Sprint("m", i)), e, protocol.CommentAddPayload{EntityRef: ref(e), Text: text + fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{r.Comment.ID}, ids...)
	}
	var got []string
	cursor, pages := "", 0
	for pages < 30 {
		pages++
		r, err := f.svc.ListComments(f.ctx, e, protocol.CommentListPayload{EntityRef: ref(e), Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(r); len(b) > protocol.ReplyBudget {
			t.Fatalf("page of %d bytes", len(b))
		}
		for _, c := range r.Comments {
			got = append(got, c.ID)
		}
		if cursor = r.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") || pages < 2 {
		t.Errorf("listed %d comments in %d pages, want all 30 newest first in more than one", len(got), pages)
	}
	for _, tt := range []struct {
		name string
		p    protocol.CommentListPayload
	}{
		{"bad cursor", protocol.CommentListPayload{EntityRef: ref(e), Cursor: "%%"}},
		{"cursor of another listing", protocol.CommentListPayload{EntityRef: ref(e), Cursor: "Q09OTiNh"}},
		{"limit too large", protocol.CommentListPayload{EntityRef: ref(e), Limit: 101}},
	} {
		_, err := f.svc.ListComments(f.ctx, e, tt.p)
		if codeOf(err) != protocol.CodeBadRequest {
			t.Errorf("%s: %v, want BAD_REQUEST", tt.name, err)
		}
	}
}
