package policy

// LimitConfig is one usage limit of a route, as written in the
// configuration (routes[].limits); package limits compiles it. Exactly one
// of Requests, Tokens and Cost is set.
type LimitConfig struct {
	// Name identifies the limit in the audit record, in metrics and in
	// refusals. Default: "requests" or "tokens" followed by the limit's
	// position. Unique within a route.
	Name string `yaml:"name"`
	// Key lists what the limit is counted per, from verified data only:
	// sub, client_id, actor (the outermost actor of a delegated token's
	// act chain), model (on a route with model rules) and route. Default
	// (empty): [sub], or nothing but KeyExpr when that is set. A public
	// route may key only on model and route.
	Key []string `yaml:"key"`
	// KeyExpr is a CEL expression over the verified token's claims (the
	// variable claims; no request data) whose string value is added to
	// the key, e.g. claims.org_id. A request whose token makes it fail
	// (the claim is missing, not a string) is refused. Default: none.
	KeyExpr string `yaml:"key_expr"`
	// Mode is "enforce" (the default) or "shadow": a shadow limit counts
	// and reports (audit, metrics) without refusing.
	Mode string `yaml:"mode"`
	// OnStoreError is "closed" (the default: the request is refused with
	// 503 when the limit's store fails) or "open" (the request goes on,
	// counted in the replica's own memory until the store answers again).
	// Either way the failure is counted in
	// scopegate_limit_store_errors_total.
	OnStoreError string `yaml:"on_store_error"`
	// Requests limits the request rate.
	Requests *RequestsLimitConfig `yaml:"requests"`
	// Tokens is a budget of LLM tokens.
	Tokens *TokensLimitConfig `yaml:"tokens"`
	// Cost is a budget of money, priced from the tokens used.
	Cost *CostLimitConfig `yaml:"cost"`
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
// usage.total_tokens) per window.
type TokensLimitConfig struct {
	// Budget is the number of tokens per window. Required, > 0.
	Budget int64 `yaml:"budget"`
	// Per is the window: a Go duration ("1h", "24h"), windows aligned to
	// the Unix epoch (UTC); or day, week (from Monday) or month, calendar
	// windows in TimeZone. Required.
	Per string `yaml:"per"`
	// TimeZone is the IANA time zone of calendar windows
	// ("Europe/Berlin"). Default UTC; only with per day, week or month.
	TimeZone string `yaml:"time_zone"`
	// MaxReserve caps what one request reserves before it is forwarded
	// (its max_tokens or max_completion_tokens plus an estimate of its
	// input), and is the reservation of a request that names no
	// max_tokens. Default 4096.
	MaxReserve int64 `yaml:"max_reserve"`
}

// CostLimitConfig is a budget of money per window, counted in exact
// micro-units (no floating point) from the tokens the upstream reports
// and the model's prices.
type CostLimitConfig struct {
	// Budget is the amount per window, a decimal string in the prices'
	// currency with at most six decimal places ("5.00"). Required, > 0.
	Budget string `yaml:"budget"`
	// Per and TimeZone are the window, as for tokens. Required.
	Per      string `yaml:"per"`
	TimeZone string `yaml:"time_zone"`
	// Prices maps a model name to its price per million tokens; the
	// entry "*" prices any other model. A request for a model without a
	// price is refused. Required, at least one entry.
	Prices map[string]PriceConfig `yaml:"prices"`
	// MaxReserve caps what one request reserves before it is forwarded
	// (a decimal string) and is the reservation of a request whose size
	// cannot be estimated. Default: the cost of 4096 output tokens at the
	// highest output price of the table.
	MaxReserve string `yaml:"max_reserve"`
}

// PriceConfig is a model's price per million tokens, as decimal strings
// with at most six decimal places.
type PriceConfig struct {
	// Input is the price of a million prompt tokens. Required.
	Input string `yaml:"input"`
	// Output is the price of a million completion tokens. Required.
	Output string `yaml:"output"`
}
