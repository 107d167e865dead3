package gateway

import "github.com/prometheus/client_golang/prometheus"

// cacheCollector reads the verified-token cache at scrape time. The
// counters are shared by every Verifier the gateway builds, so they keep
// counting across reloads; entries and bytes are those of the config in
// force.
type cacheCollector struct{ g *Gateway }

var (
	descCacheHits = prometheus.NewDesc("scopegate_token_cache_hits_total",
		"Tokens answered from the verified-token cache (after exp and key presence were re-checked).", nil, nil)
	descCacheMisses = prometheus.NewDesc("scopegate_token_cache_misses_total",
		"Tokens verified afresh while the cache was on.", nil, nil)
	descCacheEvictions = prometheus.NewDesc("scopegate_token_cache_evictions_total",
		"Cache entries dropped to stay within server.token_cache bounds.", nil, nil)
	descCacheEntries = prometheus.NewDesc("scopegate_token_cache_entries",
		"Tokens in the verified-token cache.", nil, nil)
	descCacheBytes = prometheus.NewDesc("scopegate_token_cache_bytes",
		"Estimated memory of the verified-token cache's entries.", nil, nil)
)

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCacheHits, descCacheMisses, descCacheEvictions, descCacheEntries, descCacheBytes} {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.g.cacheCounters
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(n.Hits()))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(n.Misses()))
	ch <- prometheus.MustNewConstMetric(descCacheEvictions, prometheus.CounterValue, float64(n.Evictions()))
	var entries, bytes float64
	if rt := c.g.runtime.Load(); rt != nil && rt.verifier != nil {
		st := rt.verifier.CacheStats()
		entries, bytes = float64(st.Entries), float64(st.Bytes)
	}
	ch <- prometheus.MustNewConstMetric(descCacheEntries, prometheus.GaugeValue, entries)
	ch <- prometheus.MustNewConstMetric(descCacheBytes, prometheus.GaugeValue, bytes)
}
