package descopetest

// handleLicense answers the project's rate-limit tier.
func (e *Emulator) handleLicense(*call) (any, *apiError) {
	return map[string]string{"rateLimitTier": "tier1"}, nil
}

// handleKeys answers the JWKS of the project named in the path.
func (e *Emulator) handleKeys(c *call) (any, *apiError) {
	if c.arg != e.ProjectID {
		return nil, invalid("unknown project ID %q", c.arg)
	}
	return map[string]any{"keys": []any{e.signer.jwk}}, nil
}
