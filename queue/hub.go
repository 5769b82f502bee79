package queue

import "sync"

// Hub tells goroutines waiting on a job (GET /listen) that it has ended. It is
// in-process: a waiter also re-reads the database now and then, which covers jobs
// finished by another process.
type Hub struct {
	mu      sync.Mutex
	waiters map[string][]chan struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{waiters: make(map[string][]chan struct{})} }

// Wait returns a channel closed when jobID is announced, and a function that
// stops waiting. Call the function in every case.
func (h *Hub) Wait(jobID string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.waiters[jobID] = append(h.waiters[jobID], ch)
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		list := h.waiters[jobID]
		for i, c := range list {
			if c == ch {
				h.waiters[jobID] = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(h.waiters[jobID]) == 0 {
			delete(h.waiters, jobID)
		}
	}
}

// Announce wakes everyone waiting on jobID.
func (h *Hub) Announce(jobID string) {
	h.mu.Lock()
	list := h.waiters[jobID]
	delete(h.waiters, jobID)
	h.mu.Unlock()
	for _, ch := range list {
		close(ch)
	}
}
