package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scopegate/scopegate/limits"
)

// routeLimits are the compiled limits of every route, by route index,
// bound to their metrics.
type routeLimits map[int][]*boundLimit

// boundLimit is a limit with its metric series resolved once, so that a
// request does not look them up.
type boundLimit struct {
	*limits.Limit
	allowed, refused, wouldRefuse, storeErrors prometheus.Counter
	remaining                                  prometheus.Gauge
	// limitText is the x-ratelimit-limit-* value: the burst or budget.
	limitText string
}

// bind resolves the metric series of every limit.
func (m *limitMetrics) bind(ls map[int][]*limits.Limit) routeLimits {
	out := routeLimits{}
	for i, rl := range ls {
		for _, l := range rl {
			text := ""
			switch {
			case l.Rate != nil:
				text = strconv.Itoa(l.Rate.Burst)
			case l.Prices != nil:
				text = limits.FormatMoney(l.Budget.Amount)
			default:
				text = strconv.FormatInt(l.Budget.Amount, 10)
			}
			out[i] = append(out[i], &boundLimit{Limit: l, limitText: text,
				allowed:     m.decisions.WithLabelValues(l.Route, l.Name, "allowed"),
				refused:     m.decisions.WithLabelValues(l.Route, l.Name, "refused"),
				wouldRefuse: m.decisions.WithLabelValues(l.Route, l.Name, "would_refuse"),
				storeErrors: m.storeErrors.WithLabelValues(l.Route, l.Name),
				remaining:   m.remaining.WithLabelValues(l.Route, l.Name),
			})
		}
	}
	return out
}

// limitMetrics count limit decisions; labels are route, limit and model
// names from the config, never a key or a subject.
type limitMetrics struct {
	decisions   *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	tokens      *prometheus.CounterVec
	cost        *prometheus.CounterVec
	remaining   *prometheus.GaugeVec
}

func newLimitMetrics(reg prometheus.Registerer) (*limitMetrics, error) {
	m := &limitMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_limit_decisions_total",
			Help: "Usage limit decisions by route, limit and result (allowed, refused, would_refuse).",
		}, []string{"route", "limit", "result"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_limit_store_errors_total",
			Help: "Failures of the limit store, by route and limit.",
		}, []string{"route", "limit"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_limit_tokens_total",
			Help: "LLM tokens billed to token budgets, by route, model and source (usage: the upstream's usage; reservation: billed what was reserved).",
		}, []string{"route", "model", "source"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scopegate_limit_cost_total",
			Help: "Money billed to cost budgets, in the prices' currency unit, by route, model and source (usage or reservation).",
		}, []string{"route", "model", "source"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scopegate_limit_remaining_ratio",
			Help: "Of the last key a budget refused or that came within 10% of it, the share of its budget left, by route and limit.",
		}, []string{"route", "limit"}),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.storeErrors, m.tokens, m.cost, m.remaining} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
