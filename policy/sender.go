package policy

// Sender-constraint modes of SenderConstraint's fields.
const (
	// SenderRequired: every token must be bound this way and proven.
	SenderRequired = "required"
	// SenderAllowed: bound tokens are proven; unbound tokens pass.
	SenderAllowed = "allowed"
	// SenderOff: this binding is not accepted; tokens bound this way are
	// refused (a bound token is never accepted unproven).
	SenderOff = "off"
)

// SenderConstraint says which sender-constrained tokens an issuer or a
// route takes: DPoP-bound (RFC 9449, cnf.jkt) and certificate-bound
// (RFC 8705, cnf.x5t#S256). An empty field takes the gateway's default
// (docs/sender-constrained.md); where an issuer and a route both set one,
// required wins over off, and off over allowed.
type SenderConstraint struct {
	// DPoP is required, allowed or off.
	DPoP string `yaml:"dpop"`
	// MTLS is required, allowed or off.
	MTLS string `yaml:"mtls"`
}

// ValidSenderMode reports whether m may be written in a SenderConstraint.
func ValidSenderMode(m string) bool {
	return m == "" || m == SenderRequired || m == SenderAllowed || m == SenderOff
}
