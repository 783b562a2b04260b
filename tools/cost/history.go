package cost

// Item sizes of channel history in the DynamoDB store, in metered bytes,
// measured by TestHistoryItemSizes for tenant "default", channel
// "order-updates", an 8-character user id and a 20-character messageId:
// the stream head, the publication item without its payload, and the
// resend record.
const (
	DefaultStreamHeadBytes   = 75
	DefaultPubItemBaseBytes  = 270
	DefaultResendRecordBytes = 89
)

// HistoryWriteUnits returns the write units that history adds to a publish
// of payloadBytes: one TransactWriteItems that moves the stream head,
// puts the publication and puts the resend record, each action metered
// as a transactional write (double units).
func HistoryWriteUnits(payloadBytes int) float64 {
	return WriteUnits(DefaultStreamHeadBytes, true) +
		WriteUnits(DefaultPubItemBaseBytes+max(payloadBytes, 0), true) +
		WriteUnits(DefaultResendRecordBytes, true)
}

// HistoryReadUnits returns the read units that history adds to a publish
// when the function instance does not know the channel's head (its first
// publish on the channel, or after another instance appended): one
// BatchGetItem of the head and the resend record, strongly consistent. A
// warm instance that appended last reads nothing.
func HistoryReadUnits() float64 {
	return ReadUnits(DefaultStreamHeadBytes, Strong) + ReadUnits(DefaultResendRecordBytes, Strong)
}
