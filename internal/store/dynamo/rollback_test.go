package dynamo_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// TestCancelledTransactionChangesNothing checks the test server itself
// (scripts/moto_server.py rolls cancelled transactions back item by item):
// a transaction that puts a new item, updates one, deletes another and
// then fails a condition leaves all three as they were, and leaves alone
// an item of the same partition it did not name.
func TestCancelledTransactionChangesNothing(t *testing.T) {
	ep := endpoint(t)
	client, table := newTable(t, ep, dynamo.SerialHTTP())
	ctx := t.Context()
	key := func(sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "P"}, "sk": &types.AttributeValueMemberS{Value: sk}}
	}
	put := func(sk, v string) {
		it := key(sk)
		it["v"] = &types.AttributeValueMemberS{Value: v}
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(sk string) (string, bool) {
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(sk), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Item == nil {
			return "", false
		}
		return out.Item["v"].(*types.AttributeValueMemberS).Value, true
	}
	put("updated", "old")
	put("deleted", "kept")
	put("bystander", "b")
	put("guard", "g")

	newItem := key("new")
	newItem["v"] = &types.AttributeValueMemberS{Value: "n"}
	_, err := client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(table), Item: newItem}},
		{Update: &types.Update{TableName: aws.String(table), Key: key("updated"), UpdateExpression: aws.String("SET v = :n"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberS{Value: "new"}}}},
		{Delete: &types.Delete{TableName: aws.String(table), Key: key("deleted")}},
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String(table), Key: key("guard"), ConditionExpression: aws.String("v = :x"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberS{Value: "not g"}}}},
	}})
	var cancelled *types.TransactionCanceledException
	if !errors.As(err, &cancelled) {
		t.Fatalf("TransactWriteItems: %v, want TransactionCanceledException", err)
	}
	if n := len(cancelled.CancellationReasons); n != 4 || aws.ToString(cancelled.CancellationReasons[3].Code) != "ConditionalCheckFailed" {
		t.Errorf("cancellation reasons %+v, want 4 with the last ConditionalCheckFailed", cancelled.CancellationReasons)
	}
	for sk, want := range map[string]string{"updated": "old", "deleted": "kept", "bystander": "b", "guard": "g"} {
		if got, ok := get(sk); !ok || got != want {
			t.Errorf("%s = %q (present %v) after the cancelled transaction, want %q", sk, got, ok, want)
		}
	}
	if v, ok := get("new"); ok {
		t.Errorf("the cancelled transaction's put is stored: %q", v)
	}
}
