package gateway

import (
	"net/http"
	"net/url"
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

// retire is called once next has replaced rt: the transports next did not
// carry over close their idle connections now. Connections busy with a
// request that started under rt (a long stream) are not touched: once
// CloseIdleConnections has run, http.Transport closes each connection
// returned to it instead of pooling it, so they close as those requests
// end (TestReloadDrainsOldPoolAfterInFlight).
func (rt *runtime) retire(next *runtime) {
	kept := map[*http.Transport]bool{}
	for _, u := range next.upstreams {
		kept[u.transport] = true
	}
	for _, u := range rt.upstreams {
		if !kept[u.transport] {
			u.transport.CloseIdleConnections()
		}
	}
}

// transportSettings are the settings an upstream's transport is built
// from (newTransport); the rest of an upstream's config (headers,
// forward_authorization) is applied per request and may change freely.
type transportSettings struct {
	scheme, host          string
	timeout, dialTimeout  Duration
	maxIdleConnsPerTarget int
}

func settingsOf(uc UpstreamConfig) (transportSettings, bool) {
	u, err := url.Parse(uc.URL)
	if err != nil {
		return transportSettings{}, false
	}
	return transportSettings{scheme: u.Scheme, host: u.Host, timeout: uc.Timeout, dialTimeout: uc.DialTimeout,
		maxIdleConnsPerTarget: uc.MaxIdleConns}, true
}

// transportFor returns rt's transport for upstream name if the new config
// uc builds it with the same settings, else nil.
func (rt *runtime) transportFor(name string, uc UpstreamConfig) *http.Transport {
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
