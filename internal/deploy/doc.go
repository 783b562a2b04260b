// Package deploy holds checks that tie the SAM template to the code.
//
// It has no non-test code. Its tests read template.yaml at the repository
// root with goformation and check that every Lambda function is built from
// a main package that exists, that every WebSocket route reaches a function
// through an integration of this API, that the table matches the layout in
// internal/store, that the functions read the environment variables the
// template sets, that IAM grants no Scan and no Management API access
// beyond this API's stage, and that no function binary links test, load,
// cost or emulator tooling (tools/, testing, net/http/httptest).
package deploy
