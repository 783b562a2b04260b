// Package deploy holds checks that tie the SAM template to the code.
//
// It has no non-test code. Its tests read template.yaml at the repository
// root with goformation and check that every Lambda function is built from
// a main package that exists, that every WebSocket route reaches a function
// through an integration of this API, that the table matches the layout in
// internal/store, that the functions read the environment variables the
// template sets, that IAM grants no Scan and no Management API access
// beyond this API's stage, that no function binary links test, load,
// cost or emulator tooling (tools/, testing, net/http/httptest), and that
// only mains read the environment or exit (nothing under internal/ calls
// os.Getenv, os.LookupEnv, os.Environ or os.Exit outside tests).
//
// Other checks evaluate the template's conditions and rules for given
// parameters, as CloudFormation would: access logs only with the account's
// CloudWatch Logs role, a stage that redeploys itself when routes change,
// the execute-api Management endpoint with or without a custom domain, a
// message timeout under API Gateway's 29 s, a bounded fan-out function
// with a failure queue, log groups wired through LoggingConfig, rules
// that refuse incomplete settings (a key set without an audience), and
// token parameters whose patterns and rules take only values the connect
// function takes at cold start.
package deploy
