package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/tools/loadtest"
)

// simPost is the fan-out's post of publish idx to simulated connection id.
func simPost(t *testing.T, sim *simulation, ctx context.Context, id string, idx int) int {
	t.Helper()
	frame := `{"type":"update","channel":"load:x-0","messageId":"p-` + strconv.Itoa(idx) +
		`","payload":{"c":0,"k":` + strconv.Itoa(idx) + `,"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}}`
	r := httptest.NewRequest(http.MethodPost, "/prod/@connections/"+id, strings.NewReader(frame)).WithContext(ctx)
	st, delay := sim.fault(r)
	if delay != 0 {
		t.Fatalf("post to %s: the gateway is left a delay of %v; the simulation waits itself", id, delay)
	}
	return st
}

// TestSimulatedExactlyOnce: the posts to store-only subscribers are checked
// per publish and per subscriber, so a duplicate to one and a loss to
// another do not make up the count; the output says so and the check
// fails.
func TestSimulatedExactlyOnce(t *testing.T) {
	sim := &simulation{perChannel: 3, byPublish: map[int]*simPublish{}}
	ctx := context.Background()
	// Publish 0 reaches all three once; publish 1 reaches sim 0 twice and
	// sim 1 once, never sim 2; publish 2 reaches nobody. Then a post to a
	// connection the simulation never made, and one of a publish the run
	// never sent.
	for _, p := range []struct {
		id  string
		idx int
	}{
		{"sim-0000000", 0}, {"sim-0000001", 0}, {"sim-0000002", 0},
		{"sim-0000000", 1}, {"sim-0000000", 1}, {"sim-0000001", 1},
		{"sim-0000003", 0}, {"sim-0000001", 7},
	} {
		if st := simPost(t, sim, ctx, p.id, p.idx); st != http.StatusOK {
			t.Fatalf("post to %s: status %d, want 200", p.id, st)
		}
	}
	res, unexpected := sim.results(3)
	type row struct{ publish, posts, missing, dups int }
	want := []row{{0, 3, 0, 0}, {1, 3, 1, 1}, {2, 0, 3, 0}}
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(res), len(want), res)
	}
	for i, w := range want {
		if got := (row{res[i].Publish, res[i].Posts, res[i].Missing, res[i].Duplicates}); got != w {
			t.Errorf("publish %d: %+v, want %+v", i, got, w)
		}
	}
	if res[2].CompletionMs != -1 {
		t.Errorf("publish 2, never posted: completion %v ms, want -1", res[2].CompletionMs)
	}
	if unexpected != 2 {
		t.Errorf("%d unexpected posts, want 2 (an unknown connection, a publish not sent)", unexpected)
	}
	err := simulatedExactlyOnce(res, unexpected)
	if err == nil || !strings.Contains(err.Error(), "4 missing, 1 duplicated, 2 to unknown") {
		t.Errorf("simulatedExactlyOnce = %v, want 4 missing, 1 duplicated and 2 to unknown recipients", err)
	}

	var out bytes.Buffer
	rep := loadtest.Report{Published: 3, Acked: 3, Fanout: 1, PublishCompletion: []float64{10, 11, 12}}
	printSimulation(&out, options{simulated: 3}, rep, res, unexpected)
	for _, line := range []string{
		"publish 0: 3 simulated posts, 0 missing, 0 duplicated,",
		"publish 1: 3 simulated posts, 1 missing, 1 duplicated,",
		"publish 2: 0 simulated posts, 3 missing, 0 duplicated,",
		"simulated exactly once: no: 4 missing, 1 duplicated, 2 to unknown recipients",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}

	// Every subscriber once for every publish: the check passes.
	sim = &simulation{perChannel: 2, byPublish: map[int]*simPublish{}}
	for _, id := range []string{"sim-0000000", "sim-0000001"} {
		simPost(t, sim, ctx, id, 0)
	}
	if err := simulatedExactlyOnce(sim.results(1)); err != nil {
		t.Errorf("every post once: %v, want nil", err)
	}
}

// TestSimulatedPostGivenUpIsNotCounted: a post whose client gave up before
// the simulated delay ended was never answered, so it does not count as
// delivered.
func TestSimulatedPostGivenUpIsNotCounted(t *testing.T) {
	sim := &simulation{perChannel: 1, delay: time.Hour, byPublish: map[int]*simPublish{}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if st := simPost(t, sim, ctx, "sim-0000000", 0); st == http.StatusOK {
		t.Errorf("a post given up during the delay was answered %d", st)
	}
	res, _ := sim.results(1)
	if len(res) != 1 || res[0].Posts != 0 || res[0].Missing != 1 {
		t.Errorf("results %+v, want publish 0 with no post and 1 missing", res)
	}
}
