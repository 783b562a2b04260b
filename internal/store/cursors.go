package store

// Cursors that continue a listing after an item the caller chose, for
// handlers that return only part of a page (to keep a reply within its
// byte budget). Both backends issue and accept exactly these cursors, so a
// cursor made here continues a listing as the store's own next cursor
// would after the same item.

// ActivityCursor continues ListActivity after entry a, one the listing
// returned.
func ActivityCursor(a Activity) string { return EncodeCursor(ActivitySK(a.At, a.ID)) }

// PresenceCursor continues ListPresence after the user of entry e, the
// last entry of that user the listing returned (its entries are ordered
// by user and connection id, and a user never straddles two pages).
func PresenceCursor(e Presence) string { return EncodeCursor(PresenceSK(e.UserID, e.ConnID)) }

// ConflictCursor continues ListConflicts after the conflict with id, or
// from the first conflict when id is empty.
func ConflictCursor(id string) string { return EditCursor(ConflictSK(id)) }

// CommentCursor continues ListComments after the comment with id.
func CommentCursor(id string) string { return EditCursor(CommentSK(id)) }
