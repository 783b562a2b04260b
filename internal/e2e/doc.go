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
//   - client (client_test.go) is the one WebSocket test client. Dial it
//     with dial (a dev identity), devDial (user, tenant, roles),
//     dialQuery/mustDialQuery (any query), presDial (also learns the
//     connection id), sizedDial (checks the 128 KB / 32 KB frame limits)
//     or edConnect/edDial (for load tests). It sends with send, request,
//     mustAck, call, ok, fails, roundTrip (from any goroutine) and reads
//     with next, await, waitEvent, takeEvents.
//   - Every frame the client writes or reads is checked against
//     docs/asyncapi.yaml (package protocoltest); a mismatch fails the test
//     when it ends. Mark a request malformed on purpose with c.bad() (for
//     example c.bad().request("teleport", "", nil), or e.bad().refused(...)
//     for an edT); sendRaw is never checked. Replies are always checked.
//   - storetest.FakeClock is the one settable clock.
//   - waitFor polls a condition with a deadline.
//
// Run them with `scripts/with-moto.sh go test ./internal/e2e/` (memory and
// DynamoDB); `make rie-deps` first adds the emulator backend.
package e2e
