package gateway

import (
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/scopegate/scopegate/config"
)

// A reload changes only what changed. What is expensive to rebuild and did
// not change is carried from the old runtime to the new one:
//
//   - an upstream's transport, with its warm connections, when the
//     settings it is built from (transportSettings) are the same; a
//     transport that is not carried over closes its connections as the
//     requests that started under the old config end (retire);
//   - issuers' key sets (token.Options.Previous) and, for issuers whose
//     settings did not change, their entries in the verified-token cache;
//   - compiled CEL conditions, by their source (Gateway.celCache);
//   - the state store (Deps.State), which is the gateway's, not a
//     config's: a reload never resets a counter or a revocation.
//
// Each request runs under the runtime it loaded first, to its end.

// runtimeLife counts a runtime's requests in flight; once a newer runtime
// is in force, every time the count falls to zero the transports the new
// runtime did not carry over close their idle connections.
type runtimeLife struct {
	inflight  atomic.Int64
	retired   atomic.Bool
	onDrained func() // set before retired; idempotent
}

// enter counts a request that runs under rt.
func (rt *runtime) enter() { rt.life.inflight.Add(1) }

// leave ends it. A request that loaded rt just before a reload still runs
// under it; its leave closes what it left in the old pool.
func (rt *runtime) leave() {
	if rt.life.inflight.Add(-1) == 0 && rt.life.retired.Load() {
		rt.life.onDrained()
	}
}

// retire is called once next has replaced rt. The transports next did not
// carry over close their idle connections now and whenever rt's last
// request in flight ends. Connections busy with a request that started
// under rt (a long stream) are never cut: http.Transport closes a
// connection returned to it after CloseIdleConnections instead of pooling
// it (TestReloadDrainsOldPoolAfterInFlight).
func (rt *runtime) retire(next *runtime) {
	kept := map[*http.Transport]bool{}
	for _, u := range next.upstreams {
		kept[u.transport] = true
	}
	var gone []*http.Transport
	for _, u := range rt.upstreams {
		if !kept[u.transport] {
			gone = append(gone, u.transport)
		}
	}
	rt.life.onDrained = func() {
		for _, t := range gone {
			t.CloseIdleConnections()
		}
	}
	rt.life.retired.Store(true)
	rt.life.onDrained()
}

// transportSettings are the settings an upstream's transport is built
// from (newTransport); the rest of an upstream's config (headers,
// forward_authorization) is applied per request and may change freely.
type transportSettings struct {
	scheme, host          string
	timeout, dialTimeout  config.Duration
	maxIdleConnsPerTarget int
}

func settingsOf(uc config.UpstreamConfig) (transportSettings, bool) {
	u, err := url.Parse(uc.URL)
	if err != nil {
		return transportSettings{}, false
	}
	return transportSettings{scheme: u.Scheme, host: u.Host, timeout: uc.Timeout, dialTimeout: uc.DialTimeout,
		maxIdleConnsPerTarget: uc.MaxIdleConns}, true
}

// transportFor returns rt's transport for upstream name if the new config
// uc builds it with the same settings, else nil.
func (rt *runtime) transportFor(name string, uc config.UpstreamConfig) *http.Transport {
	u := rt.upstreams[name]
	if u == nil {
		return nil
	}
	was, ok1 := settingsOf(u.cfg)
	now, ok2 := settingsOf(uc)
	if !ok1 || !ok2 || was != now {
		return nil
	}
	return u.transport
}
