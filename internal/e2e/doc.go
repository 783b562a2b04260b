// Package e2e holds the end-to-end tests: each starts the local server
// (package devserver) in process on a free loopback port and drives it over
// real WebSocket connections, on every backend that can run here (the
// embedded store always, DynamoDB when DYNAMODB_TEST_ENDPOINT names a
// server, the built bootstraps under the Lambda Runtime Interface Emulator
// when it is installed).
//
// The package has no code of its own; the tests live in package e2e_test.
// Their shared helpers, for new test files:
//
//   - backends(t) lists the backends; startServer, startOptions start a
//     server with settings or full devserver.Options and close it when the
//     test ends.
//   - dial(t, srv, user) connects a dev identity; client is the one
//     WebSocket test client (send, request, mustAck, next, quiet, ...).
//   - waitFor polls a condition with a deadline.
//
// Run them with `scripts/with-moto.sh go test ./internal/e2e/` (memory and
// DynamoDB); `make rie-deps` first adds the emulator backend.
package e2e
