package policy

// LimitConfig is one usage limit of a route, as written in the
// configuration (routes[].limits); package limits compiles it. Exactly one
// of Requests and Tokens is set.
type LimitConfig struct {
	// Name identifies the limit in the audit record, in metrics and in
	// refusals. Default: "requests" or "tokens" followed by the limit's
	// position. Unique within a route.
	Name string `yaml:"name"`
	// Key lists what the limit is counted per, from verified data only:
	// sub, client_id, actor (the outermost actor of a delegated token's
	// act chain), model (on a route with model rules) and route. Default
	// (empty): [sub]. A public route may key only on model and route.
	Key []string `yaml:"key"`
	// Mode is "enforce" (the default) or "shadow": a shadow limit counts
	// and reports (audit, metrics) without refusing.
	Mode string `yaml:"mode"`
	// OnStoreError is "closed" (the default: the request is refused with
	// 503 when the limit's store fails) or "open" (the request goes on
	// uncounted and the failure is counted in
	// scopegate_limit_store_errors_total).
	OnStoreError string `yaml:"on_store_error"`
	// Requests limits the request rate.
	Requests *RequestsLimitConfig `yaml:"requests"`
	// Tokens is a budget of LLM tokens.
	Tokens *TokensLimitConfig `yaml:"tokens"`
}

// RequestsLimitConfig is a request rate: Rate requests per Per, evenly
// spaced (GCRA), Burst of them at once.
type RequestsLimitConfig struct {
	// Rate is the number of requests per Per. Required, > 0.
	Rate int `yaml:"rate"`
	// Per is a Go duration ("1s", "1m"). Required.
	Per string `yaml:"per"`
	// Burst is how many requests may arrive at once. Default: Rate.
	Burst int `yaml:"burst"`
}

// TokensLimitConfig is a budget of LLM tokens (the upstream's
// usage.total_tokens) per fixed window.
type TokensLimitConfig struct {
	// Budget is the number of tokens per window. Required, > 0.
	Budget int64 `yaml:"budget"`
	// Per is the window's length, a Go duration ("1h", "24h");
	// windows are aligned to the Unix epoch (UTC). Required.
	Per string `yaml:"per"`
	// MaxReserve caps what one request reserves before it is forwarded
	// (its max_tokens or max_completion_tokens plus an estimate of its
	// input), and is the reservation of a request that names no
	// max_tokens. Default 4096.
	MaxReserve int64 `yaml:"max_reserve"`
}
