package deploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/publishapi"
)

// The publishing services' part of the template: the publish API, its
// managed policy for callers, the EventBridge rule with its dead-letter
// queue and alarm, and what the two publish functions may do.

// at returns the value at path in nested generic JSON objects.
func at(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// publishRoutes are the operations of package publishapi, as routes.
var publishRoutes = []string{"/" + publishapi.OpPublish, "/" + publishapi.OpNotify, "/" + publishapi.OpSnapshot}

func TestPublishAPIRequiresIAM(t *testing.T) {
	_, raw := loadTemplateRaw(t, evaluated, nil)
	api := rawResource(t, raw, "PublishApi")
	if at(raw, "Resources", "PublishApi", "Type") != "AWS::Serverless::HttpApi" {
		t.Fatal("PublishApi is not an AWS::Serverless::HttpApi")
	}
	if at(api, "Auth", "EnableIamAuthorizer") != true || at(api, "Auth", "DefaultAuthorizer") != "AWS_IAM" {
		t.Errorf("PublishApi Auth = %v, want EnableIamAuthorizer and DefaultAuthorizer AWS_IAM", api["Auth"])
	}
	events, _ := at(rawResource(t, raw, "PublishFunction"), "Events").(map[string]any)
	var paths []string
	for name, e := range events {
		if at(e, "Type") != "HttpApi" {
			t.Errorf("PublishFunction event %s: type %v, want HttpApi", name, at(e, "Type"))
			continue
		}
		p := at(e, "Properties")
		paths = append(paths, at(p, "Path").(string))
		if at(p, "ApiId") != ref("PublishApi") || at(p, "Method") != "POST" || at(p, "PayloadFormatVersion") != "2.0" ||
			at(p, "Auth", "Authorizer") != "AWS_IAM" {
			t.Errorf("PublishFunction event %s = %v, want POST on PublishApi, payload 2.0, AWS_IAM", name, p)
		}
	}
	slices.Sort(paths)
	want := slices.Sorted(slices.Values(publishRoutes))
	if !slices.Equal(paths, want) {
		t.Errorf("publish API routes %q, want %q", paths, want)
	}
	if v := at(raw, "Outputs", "PublishApiUrl", "Value"); !strings.Contains(v.(string), ref("PublishApi")) {
		t.Errorf("PublishApiUrl = %v", v)
	}
}

func TestPublisherPolicy(t *testing.T) {
	for _, tc := range []struct{ bus, busArn string }{
		{"default", "event-bus/default"},
		{"orders-bus", "event-bus/orders-bus"},
	} {
		t.Run(tc.bus, func(t *testing.T) {
			_, raw := loadTemplateRaw(t, evaluated, map[string]any{"PublishEventBusName": tc.bus})
			if at(raw, "Resources", "PublisherPolicy", "Type") != "AWS::IAM::ManagedPolicy" {
				t.Fatal("PublisherPolicy is not an AWS::IAM::ManagedPolicy")
			}
			if at(raw, "Outputs", "PublisherPolicyArn", "Value") != ref("PublisherPolicy") {
				t.Error("no PublisherPolicyArn output")
			}
			statements := documentStatements(at(rawResource(t, raw, "PublisherPolicy"), "PolicyDocument"))
			var invoke, put []string
			for _, s := range statements {
				if at(s, "Effect") != "Allow" {
					continue
				}
				actions := stringList(at(s, "Action"))
				switch {
				case slices.Equal(actions, []string{"execute-api:Invoke"}):
					invoke = append(invoke, stringList(at(s, "Resource"))...)
				case slices.Equal(actions, []string{"events:PutEvents"}):
					put = append(put, stringList(at(s, "Resource"))...)
					types := stringList(at(s, "Condition", "ForAllValues:StringEquals", "events:detail-type"))
					if !slices.Equal(types, []string{publishapi.DetailTypePublish, publishapi.DetailTypeNotify}) {
						t.Errorf("events:PutEvents for detail-types %q, want only the publish ones", types)
					}
				default:
					t.Errorf("PublisherPolicy grants %q: want only execute-api:Invoke and events:PutEvents", actions)
				}
			}
			var want []string
			for _, r := range publishRoutes {
				want = append(want, "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"+ref("PublishApi")+"/$default/POST"+r)
			}
			if !slices.Equal(invoke, want) {
				t.Errorf("execute-api:Invoke on %q, want exactly %q", invoke, want)
			}
			if wantBus := "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:" + tc.busArn; !slices.Equal(put, []string{wantBus}) {
				t.Errorf("events:PutEvents on %q, want %q", put, wantBus)
			}
		})
	}
}

func TestPublishEventRuleHasDeadLetterQueueAndAlarm(t *testing.T) {
	_, raw := loadTemplateRaw(t, evaluated, map[string]any{"PublishEventBusName": "orders-bus"})
	fn := rawResource(t, raw, "PublishEventsFunction")
	events, _ := fn["Events"].(map[string]any)
	if len(events) != 1 {
		t.Fatalf("PublishEventsFunction events %v, want one EventBridge rule", events)
	}
	queue := "${PublishDeadLetterQueue.Arn}"
	for name, e := range events {
		p := at(e, "Properties")
		if at(e, "Type") != "EventBridgeRule" || at(p, "EventBusName") != "orders-bus" {
			t.Errorf("event %s = %v, want an EventBridgeRule on the PublishEventBusName bus", name, e)
		}
		types := stringList(at(p, "Pattern", "detail-type"))
		if !slices.Equal(types, []string{publishapi.DetailTypePublish, publishapi.DetailTypeNotify}) {
			t.Errorf("rule pattern detail-type %q, want the publish detail-types", types)
		}
		if at(p, "DeadLetterConfig", "Arn") != queue {
			t.Errorf("rule DeadLetterConfig %v, want %s", at(p, "DeadLetterConfig"), queue)
		}
		// SAM names the rule it makes for the event <function><event>.
		// With DeadLetterConfig.Arn (not Type) it adds no queue policy, and
		// without one EventBridge may not send to the queue: an event it
		// cannot deliver would be dropped, and the alarm never fire.
		rule := "${PublishEventsFunction" + name + ".Arn}"
		if !eventsMaySend(raw, "PublishDeadLetterQueue", rule) {
			t.Errorf("no queue policy lets events.amazonaws.com send to PublishDeadLetterQueue for the rule %s", rule)
		}
		if n, _ := at(p, "RetryPolicy", "MaximumEventAgeInSeconds").(float64); n <= 0 || n > 86400 {
			t.Errorf("rule RetryPolicy %v: want a bounded event age", at(p, "RetryPolicy"))
		}
	}
	if at(fn, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination") != queue {
		t.Errorf("PublishEventsFunction: failed invocations go to %v, want %s", at(fn, "EventInvokeConfig", "DestinationConfig"), queue)
	}
	if at(raw, "Resources", "PublishDeadLetterQueue", "Type") != "AWS::SQS::Queue" {
		t.Fatal("no PublishDeadLetterQueue")
	}
	alarmed := false
	resources, _ := raw["Resources"].(map[string]any)
	for _, r := range resources {
		p := at(r, "Properties")
		if at(r, "Type") == "AWS::CloudWatch::Alarm" && at(p, "Namespace") == "AWS/SQS" &&
			at(p, "MetricName") == "ApproximateNumberOfMessagesVisible" {
			for _, d := range at(p, "Dimensions").([]any) {
				if at(d, "Value") == "${PublishDeadLetterQueue.QueueName}" {
					alarmed = true
				}
			}
		}
	}
	if !alarmed {
		t.Error("no alarm on the messages of PublishDeadLetterQueue")
	}
}

// TestPublishEventRuleTakesOnlyThisAccountsEvents: PublishEventsFunction
// publishes and notifies as the system role, so an event another account
// puts on the bus (a bus policy may let it) must not match its rule.
func TestPublishEventRuleTakesOnlyThisAccountsEvents(t *testing.T) {
	_, raw := loadTemplateRaw(t, evaluated, nil)
	events, _ := at(rawResource(t, raw, "PublishEventsFunction"), "Events").(map[string]any)
	if len(events) == 0 {
		t.Fatal("PublishEventsFunction has no events")
	}
	for name, e := range events {
		accounts := stringList(at(e, "Properties", "Pattern", "account"))
		if !slices.Equal(accounts, []string{"${AWS::AccountId}"}) {
			t.Errorf("event %s: pattern account %q, want only this stack's account", name, accounts)
		}
	}
}

// eventsMaySend reports whether an AWS::SQS::QueuePolicy of the queue
// resource queue allows EventBridge to send messages to it for the rule
// whose ARN is ruleArn: a statement for events.amazonaws.com conditioned
// on that rule as the source.
func eventsMaySend(raw map[string]any, queue, ruleArn string) bool {
	resources, _ := raw["Resources"].(map[string]any)
	for _, r := range resources {
		if at(r, "Type") != "AWS::SQS::QueuePolicy" ||
			!slices.Contains(stringList(at(r, "Properties", "Queues")), ref(queue)) {
			continue
		}
		for _, s := range documentStatements(at(r, "Properties", "PolicyDocument")) {
			if at(s, "Effect") == "Allow" &&
				slices.Equal(stringList(at(s, "Principal", "Service")), []string{"events.amazonaws.com"}) &&
				anyActionMatches(stringList(at(s, "Action")), "sqs:SendMessage") &&
				slices.Contains(stringList(at(s, "Resource")), "${"+queue+".Arn}") &&
				slices.Equal(stringList(at(s, "Condition", "ArnEquals", "aws:SourceArn")), []string{ruleArn}) {
				return true
			}
		}
	}
	return false
}

// TestPublishFunctionsLeastPrivilege: the publish functions read and write
// the table (not Scan), post to connections of this API and do nothing
// else but hand the shards of a large channel to the fan-out function: no
// GET or DELETE of connections, no other Lambda invocation, no SSM.
func TestPublishFunctionsLeastPrivilege(t *testing.T) {
	tpl := loadTemplate(t, thenBranch, nil)
	api := websocketAPI(t, tpl)
	stage := stageName(t, tpl, api)
	post := "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:" + ref(api) + "/" + stage + "/POST/@connections/*"
	for _, fn := range []string{"PublishFunction", "PublishEventsFunction"} {
		n := 0
		for _, g := range collectGrants(t, tpl) {
			if !strings.HasPrefix(g.where, fn+" ") {
				continue
			}
			n++
			for _, a := range g.actions {
				switch {
				case strings.HasPrefix(a, "dynamodb:") && a != "dynamodb:Scan" && !strings.Contains(a, "*"):
					for _, r := range g.resources {
						if r != "${Table.Arn}" && r != "${Table.Arn}/index/*" {
							t.Errorf("%s: %s on %q", g.where, a, r)
						}
					}
				case a == "execute-api:ManageConnections":
					if !slices.Equal(g.resources, []string{post}) {
						t.Errorf("%s: ManageConnections on %q, want only %s", g.where, g.resources, post)
					}
				case a == "lambda:InvokeFunction": // shards of a large channel
					if !slices.Equal(g.resources, []string{"${FanoutFunction.Arn}"}) {
						t.Errorf("%s: lambda:InvokeFunction on %q, want only FanoutFunction", g.where, g.resources)
					}
				default:
					t.Errorf("%s grants %q, which a publish function does not need", g.where, a)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s has no policy statements", fn)
		}
		if !throttlesAlarmCovers(tpl, fn) {
			t.Errorf("no alarm sums the Throttles of %s", fn)
		}
	}
}
