package handler

// registerFeatures adds the routes, connection clean-ups and sweeps of each
// feature. Each feature lives in its own file and registers itself here.
func (h *Handler) registerFeatures() {
	h.registerEditing()
	h.registerHistory()
	h.registerPresence()
	h.registerTokens()
}
