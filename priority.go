package tvbridge

import (
	"context"
	"strconv"
)

// Priority orders requests that compete for an upstream's rate budget: when
// several wait for the next free request slot, a higher priority always gets
// it first. It travels in the request's context (WithPriority), so the layers
// in between need not know about it. The zero value is PriorityNormal.
type Priority int

// Priorities, lowest first.
const (
	// PriorityBackground is work nobody is waiting for: the initial and deep
	// backfill, the catalogue refresh.
	PriorityBackground Priority = -1
	// PriorityNormal is the default.
	PriorityNormal Priority = 0
	// PriorityUrgent is data TradingView is about to ask for: the last
	// minutes before a start or reconnect, a chart being opened.
	PriorityUrgent Priority = 1
)

func (p Priority) String() string {
	switch p {
	case PriorityBackground:
		return "background"
	case PriorityNormal:
		return "normal"
	case PriorityUrgent:
		return "urgent"
	}
	return "priority(" + strconv.Itoa(int(p)) + ")"
}

type priorityKey struct{}

// WithPriority returns a context whose requests are served with priority p.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityFrom returns the priority WithPriority put in ctx, or
// PriorityNormal.
func PriorityFrom(ctx context.Context) Priority {
	if p, ok := ctx.Value(priorityKey{}).(Priority); ok {
		return p
	}
	return PriorityNormal
}
