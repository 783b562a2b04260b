package protocol

import (
	"encoding/json"
	"time"
)

// Position is a place in a channel's stream as the wire carries it: the
// offset of a publication (1 for the first of the stream) and the stream's
// epoch, which changes when the stream's history is lost or reset.
type Position struct {
	Offset int64  `json:"offset"`
	Epoch  string `json:"epoch"`
}

// streamEvent is an update event with its place in the stream.
type streamEvent struct {
	Envelope
	Offset int64  `json:"offset"`
	Epoch  string `json:"epoch"`
}

// UpdateEvent builds the update event of a publication on a channel with
// history: the envelope of Event with the publication's offset and epoch
// as top-level members. A frame over MaxFrameBytes is not built.
func UpdateEvent(channel, userID, messageID string, payload json.RawMessage, at time.Time, pos Position) ([]byte, error) {
	b, err := Marshal(streamEvent{
		Envelope: Envelope{Type: TypeUpdate, Channel: channel, Payload: payload, Timestamp: Now(at), UserID: userID, MessageID: messageID},
		Offset:   pos.Offset,
		Epoch:    pos.Epoch,
	})
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFrameBytes {
		return nil, NewError(CodeFrameTooLarge, "the %s frame would exceed %d bytes", TypeUpdate, MaxFrameBytes)
	}
	return b, nil
}
