// Package limits enforces usage limits: request rates (GCRA) and budgets
// of LLM tokens in fixed windows, keyed by verified identity (subject,
// client, actor), model and route.
//
// The counters live in a Store. Each Store method is one atomic step, so
// that a shared backend (Redis: one Lua script per method, its window
// computed from the server's TIME) makes N replicas enforce one limit.
// NewMemory is the default store, for one replica.
//
// A budget is not a rate (a token bucket refills, so a daily budget built
// on one is never reached): budgets count in fixed windows, aligned to the
// Unix epoch, and reset only when the window ends. A request reserves its
// estimate before it is forwarded (Reserve refuses what would cross the
// budget, so the request that crosses it does not succeed), and the
// reservation is reconciled with the upstream's reported usage afterwards
// (Adjust). The budget can be overshot only by the difference between a
// request's real usage and its reservation, for each request in flight.
//
// Keys never hold a subject or any other identity in the clear: Key hashes
// the parts it is built from.
package limits
