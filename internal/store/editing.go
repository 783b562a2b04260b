package store

// Editing stores locks, entity heads, changes, conflicts and comments.
type Editing interface{}
