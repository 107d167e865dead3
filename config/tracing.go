package config

import "net/url"

// TracingConfig configures OpenTelemetry traces.
type TracingConfig struct {
	// OTLPEndpoint is the OTLP/HTTP collector URL the spans are sent to,
	// e.g. "http://otel-collector:4318" (the path /v1/traces is added) or a
	// full URL ending in /v1/traces. Default "": tracing off, at no cost.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// Headers are sent with every export (e.g. an API key of a hosted
	// collector; ${ENV} expansion applies). Default: none.
	Headers map[string]string `yaml:"headers"`
	// SampleRatio is the share of new traces recorded, from 0 to 1; a
	// trace continued from a trusted proxy follows its parent's sampling
	// decision. Default (0 or absent): 1, every trace.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name resource attribute. Default:
	// "scopegate".
	ServiceName string `yaml:"service_name"`
	// RecordSubject adds the token's subject (enduser.id) and client id to
	// the server span. Default false: spans carry no identity.
	RecordSubject bool `yaml:"record_subject"`
}

// validateTracing checks the tracing block.
func (c *Config) validateTracing(v *validator) {
	t := c.Tracing
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		v.add("tracing.sample_ratio", "%v must be between 0 and 1 (0 or absent: 1, every trace)", t.SampleRatio)
	}
	if t.OTLPEndpoint != "" {
		if u, err := url.Parse(t.OTLPEndpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.add("tracing.otlp_endpoint", "%q is not an http(s) URL, e.g. \"http://otel-collector:4318\"", t.OTLPEndpoint)
		}
	}
}
