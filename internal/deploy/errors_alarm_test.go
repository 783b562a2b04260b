package deploy

import "testing"

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
