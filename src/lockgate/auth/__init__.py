"""Authentication without a transport: API keys (made, stored as hashes, checked in constant
time), OIDC bearer tokens, the roles a principal may carry and the failed-attempt limiter.
The HTTP edge (`lockgate.gateway.auth`) turns what these decide into replies."""
