package deploy

import (
	"fmt"
	"slices"
	"testing"
)

// TestEveryFunctionHasAnErrorsAlarm: DEPLOY.md, "After deploying":
// "Alarms: errors (crashes and timeouts) of each function".
func TestEveryFunctionHasAnErrorsAlarm(t *testing.T) {
	tpl := loadTemplate(t, thenBranch, nil)
	for _, fn := range sortedKeys(tpl.GetAllServerlessFunctionResources()) {
		found := false
		for _, a := range tpl.GetAllCloudWatchAlarmResources() {
			if str(a.Namespace) != "AWS/Lambda" || str(a.MetricName) != "Errors" {
				continue
			}
			for _, d := range a.Dimensions {
				if d.Name == "FunctionName" && d.Value == ref(fn) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no AWS/Lambda Errors alarm for %s", fn)
		}
	}
}

// TestEveryStreamConsumerHasAnAgeAlarm: DEPLOY.md, "After deploying". A
// function the table's stream invokes answers a failed record with
// BatchItemFailures, which Lambda does not count as an error: the record
// is sent again, holding its shard back, until MaximumRecordAgeInSeconds
// drops it. Only IteratorAge shows that, so every stream consumer has an
// alarm on its IteratorAge that notifies the alarm topic.
func TestEveryStreamConsumerHasAnAgeAlarm(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:123456789012:rtcollab-alarms"
	_, raw := loadTemplateRaw(t, evaluated, map[string]any{"AlarmTopicArn": topic})
	resources, _ := raw["Resources"].(map[string]any)
	aged := map[string][]string{} // function -> its IteratorAge alarms
	for _, id := range sortedKeys(resources) {
		r := resources[id]
		p := at(r, "Properties")
		if at(r, "Type") != "AWS::CloudWatch::Alarm" || at(p, "Namespace") != "AWS/Lambda" || at(p, "MetricName") != "IteratorAge" {
			continue
		}
		for _, d := range at(p, "Dimensions").([]any) {
			if at(d, "Name") == "FunctionName" {
				aged[fmt.Sprint(at(d, "Value"))] = append(aged[fmt.Sprint(at(d, "Value"))], id)
			}
		}
		for _, actions := range []string{"AlarmActions", "OKActions"} {
			if got := at(p, actions); !slices.Equal(stringList(got), []string{topic}) {
				t.Errorf("%s: %s %v, want the AlarmTopicArn %s", id, actions, got, topic)
			}
		}
		if at(p, "Statistic") != "Maximum" {
			t.Errorf("%s: Statistic %v, want Maximum (the oldest record of the period)", id, at(p, "Statistic"))
		}
	}
	consumers := 0
	for _, id := range sortedKeys(resources) {
		r := resources[id]
		if at(r, "Type") != "AWS::Lambda::EventSourceMapping" {
			continue
		}
		consumers++
		fn := fmt.Sprint(at(r, "Properties", "FunctionName"))
		if len(aged[fn]) == 0 {
			t.Errorf("%s hands the table's stream to %s, which has no IteratorAge alarm (alarmed: %v)", id, fn, aged)
		}
	}
	if consumers == 0 {
		t.Fatal("no event source mapping in the template")
	}
}
