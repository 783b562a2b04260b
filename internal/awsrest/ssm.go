package awsrest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// SSMService is the SigV4 service name and endpoint prefix of SSM.
const SSMService = "ssm"

// GetParameter returns the value of the SSM parameter name, decrypted when
// it is a SecureString: SSM's GetParameter action (AWS JSON 1.1 protocol)
// at endpoint (see Endpoint), sent through c, a Client for SSMService.
func GetParameter(ctx context.Context, c *Client, endpoint, name string) (string, error) {
	body, err := json.Marshal(map[string]any{"Name": name, "WithDecryption": true})
	if err != nil {
		return "", err
	}
	out, _, err := c.Do(ctx, Request{
		Method: http.MethodPost,
		URL:    endpoint + "/",
		Header: http.Header{
			"Content-Type": {"application/x-amz-json-1.1"},
			"X-Amz-Target": {"AmazonSSM.GetParameter"},
		},
		Body: body,
	})
	if err != nil {
		return "", fmt.Errorf("ssm GetParameter %q: %w", name, err)
	}
	var doc struct {
		Parameter *struct {
			Value *string `json:"Value"`
		} `json:"Parameter"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return "", fmt.Errorf("ssm GetParameter %q: decode response: %w", name, err)
	}
	if doc.Parameter == nil || doc.Parameter.Value == nil || *doc.Parameter.Value == "" {
		return "", fmt.Errorf("ssm parameter %q is empty", name)
	}
	return *doc.Parameter.Value, nil
}
