package cost

// Item sizes of channel history in the DynamoDB store, in metered bytes,
// measured by TestHistoryItemSizes for tenant "default", channel
// "order-updates", an 8-character user id and a 20-character messageId:
// the publication item without its payload, and the resend record. There
// is no position item: the position is the newest publication.
const (
	DefaultPubItemBaseBytes  = 270
	DefaultResendRecordBytes = 89
)

// HistoryWriteUnits returns the write units that history adds to a publish
// of payloadBytes: one TransactWriteItems that puts the publication and
// its resend record, each action metered as a transactional write
// (double units).
func HistoryWriteUnits(payloadBytes int) float64 {
	return WriteUnits(DefaultPubItemBaseBytes+max(payloadBytes, 0), true) +
		WriteUnits(DefaultResendRecordBytes, true)
}

// HistoryReadUnits returns the read units that history adds to a publish
// of payloadBytes when the function instance does not know the channel's
// newest publication (its first publish on the channel, after another
// instance appended, or once the newest it knows has expired): a GetItem
// of the resend record and a Query of the newest publication (taken to be
// of the same size), both strongly consistent. A warm instance that
// appended last reads nothing.
func HistoryReadUnits(payloadBytes int) float64 {
	return ReadUnits(DefaultResendRecordBytes, Strong) + ReadUnits(DefaultPubItemBaseBytes+max(payloadBytes, 0), Strong)
}
