package store

// Presences stores presence, activity-feed entries and the lookups that
// notifications need.
type Presences interface{}
