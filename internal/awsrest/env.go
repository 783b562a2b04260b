package awsrest

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// FromEnv returns the AWS configuration a Lambda function receives in its
// environment, read through getenv (os.Getenv in main): the region from
// AWS_REGION (else AWS_DEFAULT_REGION) and the execution role's credentials
// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
//
// It reads no shared files and calls no credential service, unlike the
// SDK's config.LoadDefaultConfig, which the bootstraps do not link. The
// local server reads its (optional) configuration with it too, with
// allowMissing.
//
// With allowMissing, absent credentials yield an aws.Config without them
// (requests go unsigned) instead of an error.
func FromEnv(getenv func(string) string, allowMissing bool) (aws.Config, error) {
	cfg := aws.Config{Region: strings.TrimSpace(getenv("AWS_REGION"))}
	if cfg.Region == "" {
		cfg.Region = strings.TrimSpace(getenv("AWS_DEFAULT_REGION"))
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	switch {
	case id != "" && secret != "":
		cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))
	case !allowMissing:
		return cfg, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the function's role)")
	}
	return cfg, nil
}

// Endpoint returns the endpoint of service (its endpoint prefix, e.g. "ssm"
// or "lambda") in region: AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL
// when set through getenv (the SDK's own variables, which point a function
// or a test at another endpoint), else https://<service>.<region>.<dns
// suffix>, with amazonaws.com.cn in the China regions.
func Endpoint(getenv func(string) string, service, region string) string {
	if getenv != nil {
		if v := strings.TrimSpace(getenv("AWS_ENDPOINT_URL_" + strings.ToUpper(service))); v != "" {
			return strings.TrimRight(v, "/")
		}
		if v := strings.TrimSpace(getenv("AWS_ENDPOINT_URL")); v != "" {
			return strings.TrimRight(v, "/")
		}
	}
	if region == "" {
		region = DefaultRegion
	}
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://" + service + "." + region + "." + suffix
}
