package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/tools/cost"
)

// CapacityConfig configures MeasureCapacity. Zero fields take the
// defaults noted.
type CapacityConfig struct {
	// Endpoint is a DynamoDB endpoint (moto, DynamoDB Local). Required.
	Endpoint string
	// Fanouts are the publish fan-outs to measure. Default 1, 10, 100.
	Fanouts []int
	// MessageBytes is the approximate size of each publish payload.
	// Default 256.
	MessageBytes int
	// Frames are further requests to measure, each sent once by the
	// measuring connection (presence, cursor, locks, changes). Default
	// DefaultCapacityFrames().
	Frames []CapacityFrame
	// Logf, if set, reports progress. Default nil.
	Logf func(format string, args ...any)
}

// CapacityFrame is one request of the capacity scenario.
type CapacityFrame struct {
	// Name labels the row of the report, e.g. "presence update".
	Name string
	// Type, Channel and Payload make up the request frame.
	Type, Channel string
	Payload       any
	// Setup frames are sent first and not measured (e.g. joining a room
	// before a cursor).
	Setup []CapacityFrame
}

// DefaultCapacityFrames returns the feature requests the scenario
// measures besides connect, subscribe and publish: a presence update, a
// cursor, a lock acquire and a change push (to a last-write-wins entity
// type, which needs no lock). A request whose route the
// server does not serve is reported with its error code.
func DefaultCapacityFrames() []CapacityFrame {
	return []CapacityFrame{
		{Name: "presence update", Type: "presence", Payload: map[string]any{"status": "away",
			"location": map[string]any{"page": "orders", "section": "list"}, "activity": "editing order 1"}},
		{Name: "presence heartbeat (sets nothing)", Type: "presence", Payload: map[string]any{"active": true}},
		{Name: "cursor", Type: "cursor", Payload: map[string]any{"room": "orders", "x": 10.5, "y": 20},
			Setup: []CapacityFrame{{Type: "room.join", Payload: map[string]any{"room": "orders"}}}},
		{Name: "lock acquire", Type: "lock.acquire", Payload: map[string]any{"entityType": "order", "entityId": "cap-1"}},
		{Name: "change push", Type: "change", Payload: map[string]any{"entityType": "note", "entityId": "cap-2",
			"baseVersion": 0, "operation": "update", "path": "status", "after": "paid"}},
	}
}

// CapacityStep is the DynamoDB usage of one step of the scenario.
type CapacityStep struct {
	// Name says what was done, e.g. "publish, fan-out 10".
	Name string `json:"name"`
	// Requests counts DynamoDB calls; Calls splits them by operation.
	Requests int64            `json:"requests"`
	Calls    map[string]int64 `json:"calls"`
	// MotoUnits is the sum of the CapacityUnits the server reported
	// (moto reports fixed figures: 0.5 for GetItem, 1 for Query and
	// PutItem, one per key for BatchGetItem, none for transactions).
	MotoUnits float64 `json:"motoCapacityUnits"`
	// ReadUnits and WriteUnits follow DynamoDB's sizing rules applied to
	// the items each call read or wrote (see Units).
	ReadUnits  float64 `json:"readUnits"`
	WriteUnits float64 `json:"writeUnits"`
	// Note explains a step that could not be measured as intended.
	Note string `json:"note,omitempty"`
}

// CapacityReport is the outcome of MeasureCapacity.
type CapacityReport struct {
	Steps []CapacityStep `json:"steps"`
	// ConnItemBytes and SubItemBytes are the metered sizes of the
	// measuring connection's item and of one of its subscription items.
	ConnItemBytes int `json:"connItemBytes"`
	SubItemBytes  int `json:"subItemBytes"`
}

// Step returns the step called name, if any.
func (r CapacityReport) Step(name string) (CapacityStep, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return CapacityStep{}, false
}

// PublishStepName is the name of the publish step at fan-out n.
func PublishStepName(n int) string { return fmt.Sprintf("publish, fan-out %d", n) }

// MeasureCapacity runs the backend on a fresh table at cfg.Endpoint and
// measures the DynamoDB requests and units of each user-visible
// operation, one at a time, through real WebSocket connections to the
// local server: connect, subscribe, a request that only looks the
// connection up, a publish at each fan-out, the feature requests, one
// sweeper pass, unsubscribe and disconnect.
func MeasureCapacity(ctx context.Context, cfg CapacityConfig) (CapacityReport, error) {
	const op = "measure capacity"
	if cfg.Endpoint == "" {
		return CapacityReport{}, fmt.Errorf("%s: no DynamoDB endpoint", op)
	}
	if len(cfg.Fanouts) == 0 {
		cfg.Fanouts = []int{1, 10, 100}
	}
	if cfg.MessageBytes <= 0 {
		cfg.MessageBytes = 256
	}
	if cfg.Frames == nil {
		cfg.Frames = DefaultCapacityFrames()
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	oracle, err := dynamo.NewClient(ctx, cfg.Endpoint, "us-east-1")
	if err != nil {
		return CapacityReport{}, fmt.Errorf("%s at %q: %w", op, cfg.Endpoint, err)
	}
	var counter dynamo.Counter
	units := &Units{Oracle: oracle}
	table := fmt.Sprintf("rtcollab-capacity-%d", time.Now().UnixNano())
	srv, err := devserver.Start(ctx, devserver.Options{
		Addr: "127.0.0.1:0",
		Settings: app.Settings{DevIdentity: true, TableName: table, DynamoDBEndpoint: cfg.Endpoint,
			Region: "us-east-1", LogLevel: "error"},
		App: &app.Options{DynamoOptions: []func(*dynamodb.Options){
			counter.Options(), units.Options(), dynamo.SerialHTTP()}},
		Logger:        slog.New(slog.NewJSONHandler(io.Discard, nil)),
		SweepInterval: -1,
		// The change feed's relay polls the outbox: its Queries would be
		// counted with every operation measured here.
		ChangeFeedInterval: -1,
	})
	if err != nil {
		return CapacityReport{}, fmt.Errorf("%s: start server on %q: %w", op, cfg.Endpoint, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Close(cctx)
		_, _ = oracle.DeleteTable(cctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	}()

	m := &meter{counter: &counter, units: units}
	var rep CapacityReport
	var me *capClient
	step := func(name string, fn func() (string, error)) error {
		// A heartbeat presence frame with "active" first absorbs the
		// presence write a connection's next frame makes when one is due
		// (a refresh, every 30 s; client activity 30 s newer than the
		// stored one), so that the step measures only its own work; the
		// refresh has its own row.
		if me != nil && !strings.HasPrefix(name, "first request") {
			if _, err := me.do(ctx, "presence", "", map[string]any{"active": true}); err != nil {
				return fmt.Errorf("%s: %s: heartbeat: %w", op, name, err)
			}
		}
		m.quiesce()
		before := m.snapshot()
		note, err := fn()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", op, name, err)
		}
		m.quiesce()
		s := m.since(before)
		s.Name, s.Note = name, note
		rep.Steps = append(rep.Steps, s)
		logf("%-28s %3d requests  %6.1f RRU  %6.1f WRU  %s", name, s.Requests, s.ReadUnits, s.WriteUnits, note)
		return nil
	}

	if err := step("connect", func() (string, error) {
		me, err = dialCapacity(ctx, srv.WebSocketURL(), "cap-me")
		return "", err
	}); err != nil {
		return rep, err
	}
	defer me.close()
	var connID string
	if err := step("first request (writes the presence session)", func() (string, error) {
		f, err := me.do(ctx, "hello", "", nil)
		if err != nil {
			return "", err
		}
		var hello struct {
			ConnectionID string `json:"connectionId"`
		}
		_ = json.Unmarshal(f.Payload, &hello)
		connID = hello.ConnectionID
		return "", replyErr(f)
	}); err != nil {
		return rep, err
	}
	if err := step("ping (connection lookup only)", func() (string, error) {
		f, err := me.do(ctx, "ping", "", nil)
		if err != nil {
			return "", err
		}
		return "", replyErr(f)
	}); err != nil {
		return rep, err
	}
	if err := step("subscribe", func() (string, error) {
		f, err := me.do(ctx, "subscribe", "order:cap-solo", nil)
		if err != nil {
			return "", err
		}
		return "", replyErr(f)
	}); err != nil {
		return rep, err
	}
	rep.ConnItemBytes = itemSize(ctx, oracle, table, store.ConnPK(connID), store.SKMeta)
	rep.SubItemBytes = itemSize(ctx, oracle, table, store.ChanPK("default", "order:cap-solo"), store.ConnPK(connID))

	pad := strings.Repeat("x", max(cfg.MessageBytes-40, 0))
	var subscribers []*capClient
	defer func() {
		for _, c := range subscribers {
			c.close()
		}
	}()
	for _, n := range cfg.Fanouts {
		channel := fmt.Sprintf("order:cap-%d", n)
		logf("setting up %d subscribers of %s", n, channel)
		for i := range n {
			c, err := dialCapacity(ctx, srv.WebSocketURL(), fmt.Sprintf("cap-%d-%d", n, i))
			if err != nil {
				return rep, fmt.Errorf("%s: subscriber %d of %d: %w", op, i, n, err)
			}
			subscribers = append(subscribers, c)
			f, err := c.do(ctx, "subscribe", channel, nil)
			if err == nil {
				err = replyErr(f)
			}
			if err != nil {
				return rep, fmt.Errorf("%s: subscribe %d of %d: %w", op, i, n, err)
			}
		}
		if err := step(PublishStepName(n), func() (string, error) {
			f, err := me.do(ctx, "publish", channel, map[string]any{"pad": pad})
			if err != nil {
				return "", err
			}
			var ack struct {
				Recipients int `json:"recipients"`
			}
			_ = json.Unmarshal(f.Payload, &ack)
			if err := replyErr(f); err != nil {
				return "", err
			}
			if ack.Recipients != n {
				return "", fmt.Errorf("publish reached %d recipients, want %d", ack.Recipients, n)
			}
			return "", nil
		}); err != nil {
			return rep, err
		}
	}
	for _, fr := range cfg.Frames {
		for _, s := range fr.Setup {
			if _, err := me.do(ctx, s.Type, s.Channel, s.Payload); err != nil {
				return rep, fmt.Errorf("%s: %s: setup: %w", op, fr.Name, err)
			}
		}
		if err := step(fr.Name, func() (string, error) {
			f, err := me.do(ctx, fr.Type, fr.Channel, fr.Payload)
			if err != nil {
				return "", err
			}
			if err := replyErr(f); err != nil {
				return fmt.Sprintf("answered %v", err), nil
			}
			return "", nil
		}); err != nil {
			return rep, err
		}
	}
	if err := step("sweeper pass", func() (string, error) {
		return "", srv.Built.Handler.Sweep(ctx)
	}); err != nil {
		return rep, err
	}
	if err := step("unsubscribe", func() (string, error) {
		f, err := me.do(ctx, "unsubscribe", "order:cap-solo", nil)
		if err != nil {
			return "", err
		}
		return "", replyErr(f)
	}); err != nil {
		return rep, err
	}
	if err := step("disconnect", func() (string, error) {
		me.close()
		me = nil
		// $disconnect runs once the close handshake is over.
		time.Sleep(2 * time.Second)
		return "", nil
	}); err != nil {
		return rep, err
	}
	return rep, nil
}

// itemSize returns the metered size of one item (0 when absent).
func itemSize(ctx context.Context, c *dynamodb.Client, table, pk, sk string) int {
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{store.AttrPK: &types.AttributeValueMemberS{Value: pk}, store.AttrSK: &types.AttributeValueMemberS{Value: sk}}})
	if err != nil || out.Item == nil {
		return 0
	}
	return cost.ItemSize(out.Item)
}

// meter reads the request counter and the unit calculator.
type meter struct {
	counter *dynamo.Counter
	units   *Units
}

type meterSnapshot struct {
	ops   map[string]dynamo.OpStats
	units map[string]UnitStats
}

func (m *meter) snapshot() meterSnapshot {
	return meterSnapshot{ops: m.counter.Snapshot(), units: m.units.Snapshot()}
}

func (m *meter) total() int64 {
	var n int64
	for _, st := range m.counter.Snapshot() {
		n += st.Requests
	}
	return n
}

// quiesce waits until no DynamoDB request has been made for 300 ms (at
// most 15 s): asynchronous work, such as $disconnect after a close, has
// finished.
func (m *meter) quiesce() {
	deadline := time.Now().Add(15 * time.Second)
	last, since := m.total(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if n := m.total(); n != last {
			last, since = n, time.Now()
			continue
		}
		if time.Since(since) >= 300*time.Millisecond {
			return
		}
	}
}

func (m *meter) since(before meterSnapshot) CapacityStep {
	after := m.snapshot()
	s := CapacityStep{Calls: map[string]int64{}}
	for name, st := range after.ops {
		d := st.Requests - before.ops[name].Requests
		if d == 0 {
			continue
		}
		s.Calls[name] = d
		s.Requests += d
		s.MotoUnits += st.CapacityUnits - before.ops[name].CapacityUnits
	}
	for name, u := range after.units {
		s.ReadUnits += u.ReadUnits - before.units[name].ReadUnits
		s.WriteUnits += u.WriteUnits - before.units[name].WriteUnits
	}
	return s
}

// FormatCalls renders a step's calls per operation, e.g. "GetItem 1,
// Query 1".
func (s CapacityStep) FormatCalls() string {
	names := make([]string, 0, len(s.Calls))
	for n := range s.Calls {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, s.Calls[n])
	}
	return strings.Join(parts, ", ")
}

// capClient is a minimal client: one request at a time, replies matched
// by messageId, every other frame dropped.
type capClient struct {
	ws      *websocket.Conn
	seq     int
	mu      sync.Mutex
	waiting map[string]chan frame
	done    chan struct{}
}

func dialCapacity(ctx context.Context, wsURL, user string) (*capClient, error) {
	u := wsURL + "?" + url.Values{"userId": {user}}.Encode()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", u, err)
	}
	ws.SetReadLimit(1 << 20)
	c := &capClient{ws: ws, waiting: map[string]chan frame{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var f frame
			if json.Unmarshal(data, &f) != nil || f.ReplyTo == "" {
				continue
			}
			c.mu.Lock()
			ch := c.waiting[f.ReplyTo]
			delete(c.waiting, f.ReplyTo)
			c.mu.Unlock()
			if ch != nil {
				ch <- f
			}
		}
	}()
	return c, nil
}

// do sends one request and returns its reply.
func (c *capClient) do(ctx context.Context, typ, channel string, payload any) (frame, error) {
	c.seq++
	id := fmt.Sprintf("m%d", c.seq)
	msg := map[string]any{"type": typ, "messageId": id, "timestamp": time.Now().UTC().Format(time.RFC3339)}
	if channel != "" {
		msg["channel"] = channel
	}
	if payload != nil {
		msg["payload"] = payload
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return frame{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	ch := make(chan frame, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, b); err != nil {
		return frame{}, fmt.Errorf("send %s: %w", typ, err)
	}
	select {
	case f := <-ch:
		return f, nil
	case <-c.done:
		return frame{}, fmt.Errorf("%s: connection closed", typ)
	case <-wctx.Done():
		return frame{}, fmt.Errorf("%s: no reply: %w", typ, wctx.Err())
	}
}

func (c *capClient) close() {
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
}

// replyErr returns nil for an ack or pong, or an error naming the code.
func replyErr(f frame) error {
	if f.Type == "ack" || f.Type == "pong" {
		return nil
	}
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(f.Payload, &e)
	return errors.New(e.Code)
}
