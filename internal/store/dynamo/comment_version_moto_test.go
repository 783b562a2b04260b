package dynamo

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/store"
)

// TestCommentWithoutVersion: a comment item written before comments had
// versions has no version attribute. It reads as version 1, and its first
// resolve stores version 2 (and the next one 3).
func TestCommentWithoutVersion(t *testing.T) {
	ctx := t.Context()
	client, table := motoTable(t, "t-comment-nover", &http.Client{})
	now := time.Unix(time.Now().Unix(), 0).UTC()
	s := New(client, table, func() time.Time { return now })
	e := store.EntityKey{Tenant: "acme", Type: "order", ID: "1"}
	const id = "0000000001000-old"
	key := keyOf(store.EntityPK(e), store.CommentSK(id))
	old := item{"id": str(id), "userId": str("u1"), "text": str("stored before versions"),
		"createdAt": str(formatTime(now)), "resolved": boolAttr(false)}
	for k, v := range key {
		old[k] = v
	}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: old}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.GetComment(ctx, e, id); err != nil || c.Version != 1 {
		t.Fatalf("GetComment of an item without a version = version %d, %v; want 1", c.Version, err)
	}
	if cs, _, err := s.ListComments(ctx, e, store.Page{}); err != nil || len(cs) != 1 || cs[0].Version != 1 {
		t.Fatalf("ListComments = %+v, %v; want the comment at version 1", cs, err)
	}
	for i, want := range []int64{2, 3} {
		c, err := s.ResolveComment(ctx, e, id, i == 0, "u2", now.Add(time.Second))
		if err != nil || c.Version != want {
			t.Fatalf("resolve %d = version %d, %v; want %d", i+1, c.Version, err, want)
		}
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil || getN(out.Item, "version") != want {
			t.Fatalf("stored item after resolve %d = %v, %v; want version %d", i+1, out.Item, err, want)
		}
	}
}
