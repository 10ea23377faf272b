package descopetest

import (
	"math"
	"slices"
	"time"
)

// checkUnit validates a lifetime and its unit.
func (e *Emulator) checkUnit(field string, n int32, unit string) *apiError {
	if n < 0 {
		return invalid("%s must not be negative", field)
	}
	switch unit {
	case "minutes", "hours", "days", "weeks":
		return e.checkSize(field, n, unit)
	case "seconds":
		if e.cfg.secondsUnit {
			return e.checkSize(field, n, unit)
		}
	case "":
		if n == 0 {
			return nil
		}
	}
	units := "minutes, hours, days or weeks"
	if e.cfg.secondsUnit {
		units = "seconds, " + units
	}
	return invalid("%sUnit must be one of %s, not %q", field, units, unit)
}

// checkSize refuses a lifetime too long to be a time.Duration.
func (e *Emulator) checkSize(field string, n int32, unit string) *apiError {
	if n > 0 && unitDuration(n, unit) == 0 {
		return invalid("%s of %d %s is too long", field, n, unit)
	}
	return nil
}

// MinSessionTTL is the shortest session token lifetime tenant session
// settings accept, unless WithSecondsUnit is on.
const MinSessionTTL = 3 * time.Minute

// checkLifetimes refuses what Descope's tenant management documents as
// invalid: a session token lifetime under 3 minutes (MinSessionTTL, waived
// by WithSecondsUnit so tests can use short lifetimes) or longer than the
// refresh token lifetime (the tenant's, or the project's when the tenant
// sets none; always enforced). Refused either way, whether or not the
// settings are enabled.
func (e *Emulator) checkLifetimes(s *tenantSettings) *apiError {
	session := unitDuration(s.SessionTokenExpiration, s.SessionTokenExpirationUnit)
	if session == 0 {
		return nil
	}
	refresh := unitDuration(s.RefreshTokenExpiration, s.RefreshTokenExpirationUnit)
	if refresh == 0 {
		refresh = e.cfg.refreshTTL
	}
	switch {
	case session < MinSessionTTL && !e.cfg.secondsUnit:
		return invalid("sessionTokenExpiration of %d %s is shorter than 3 minutes", s.SessionTokenExpiration, s.SessionTokenExpirationUnit)
	case session > refresh:
		return invalid("sessionTokenExpiration (%v) must not be longer than refreshTokenExpiration (%v)", session, refresh)
	}
	return nil
}

// handleTenantConfigureSettings replaces the tenant's session settings,
// after checking every lifetime (see checkUnit and checkLifetimes).
func (e *Emulator) handleTenantConfigureSettings(c *call, req *tenantSettings) (any, *apiError) {
	if req.TenantID == "" {
		return nil, missingArg("tenantId")
	}
	for _, chk := range []struct {
		field string
		n     int32
		unit  string
	}{
		{"refreshTokenExpiration", req.RefreshTokenExpiration, req.RefreshTokenExpirationUnit},
		{"sessionTokenExpiration", req.SessionTokenExpiration, req.SessionTokenExpirationUnit},
		{"stepupTokenExpiration", req.StepupTokenExpiration, req.StepupTokenExpirationUnit},
		{"inactivityTime", req.InactivityTime, req.InactivityTimeUnit},
	} {
		if a := e.checkUnit(chk.field, chk.n, chk.unit); a != nil {
			return nil, a
		}
	}
	if a := e.checkLifetimes(req); a != nil {
		return nil, a
	}
	return e.withTenant(req.TenantID, func(t *tenant) (any, *apiError) {
		req.TenantID = ""
		req.Domains = mergeStrings(nil, req.Domains)
		req.SelfProvisioningDomains = mergeStrings(nil, req.SelfProvisioningDomains)
		t.settings = *req
		return nil, nil
	})
}

// handleTenantGetSettings answers the session settings of the tenant with
// the query's id.
func (e *Emulator) handleTenantGetSettings(c *call) (any, *apiError) {
	return e.withQueriedTenant(c, func(t *tenant) (any, *apiError) {
		s := t.settings
		s.Domains = slices.Clone(s.Domains)
		s.SelfProvisioningDomains = slices.Clone(s.SelfProvisioningDomains)
		return s, nil
	})
}

// unitDuration is n units as a duration, or 0 when n is not positive, the
// unit unknown, or the result too long.
func unitDuration(n int32, unit string) time.Duration {
	if n <= 0 {
		return 0
	}
	var u time.Duration
	switch unit {
	case "seconds":
		u = time.Second
	case "minutes":
		u = time.Minute
	case "hours":
		u = time.Hour
	case "days":
		u = 24 * time.Hour
	case "weeks":
		u = 7 * 24 * time.Hour
	default:
		return 0
	}
	if time.Duration(n) > math.MaxInt64/u {
		return 0 // overflows; checkUnit rejects it
	}
	return time.Duration(n) * u
}
