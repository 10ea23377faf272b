package descopetest

import "net/http"

// The methods of the routes, short so the table below reads as one.
const (
	get   = http.MethodGet
	post  = http.MethodPost
	patch = http.MethodPatch
	del   = http.MethodDelete
)

// buildRoutes fills the route table: each path and method with the
// authorization it needs and its handler. The routes whose handler reads a
// JSON body come second, each through withBody; within each part they go
// by topic.
func (e *Emulator) buildRoutes() {
	e.exact = map[string]map[string]route{}

	// Routes that read no body: queries, and calls that carry only a token.
	e.add(get, "/emulator/v1/outbox", authNone, e.handleOutbox)
	e.add(post, "/v1/auth/refresh", authSession, e.handleRefresh)
	e.add(post, "/v1/auth/logout", authSession, e.handleLogout)
	e.add(post, "/v1/auth/logoutall", authSession, e.handleLogoutAll)
	e.add(get, "/v1/auth/me", authSession, e.handleMe)
	e.add(post, "/v1/auth/try-refresh", authProject, e.handleTryRefresh)
	e.add(get, "/v1/mgmt/license", authManagement, e.handleLicense)
	e.add(get, "/v1/mgmt/user", authManagement, e.handleUserLoad)
	e.add(del, "/v1/mgmt/user/test/delete/all", authManagement, e.handleDeleteTestUsers)
	e.add(get, "/v1/mgmt/tenant", authManagement, e.handleTenantLoad)
	e.add(get, "/v1/mgmt/tenant/all", authManagement, e.handleTenantLoadAll)
	e.add(get, "/v1/mgmt/tenant/settings", authManagement, e.handleTenantGetSettings)

	// The emulator's own: links sent, and the emulated OAuth provider page.
	e.add(get, "/emulator/v1/outbox/link", authNone, e.handleOutboxLink)
	e.add(get, oauthPagePath, authNone, e.handleOAuthPage)
	e.add(post, oauthPagePath, authNone, e.handleOAuthPageSubmit)

	// authentication
	e.add(post, "/v1/auth/password/signup", authProject, withBody(e.handlePasswordSignUp))
	e.add(post, "/v1/auth/password/signin", authProject, withBody(e.handlePasswordSignIn))
	e.add(post, "/v1/auth/password/replace", authProject, withBody(e.handlePasswordReplace))
	e.add(post, "/v1/auth/password/update", authRefresh, withBody(e.handlePasswordUpdate))
	e.add(post, "/v1/auth/otp/update/email", authRefresh, withBody(e.handleOTPUpdateEmail))
	e.add(post, "/v1/auth/tenant/select", authRefresh, withBody(e.handleSelectTenant))

	// authentication: magic links, OAuth, passkeys
	e.add(post, "/v1/auth/magiclink/update/email", authRefresh, withBody(e.handleMagicLinkUpdateEmail))
	e.add(post, "/v1/auth/magiclink/verify", authProject, withBody(e.handleMagicLinkVerify))
	e.add(post, "/v1/auth/oauth/authorize", authProject, withBody(e.handleOAuthSignUpOrIn))
	e.add(post, "/v1/auth/oauth/authorize/signin", authProject, withBody(e.handleOAuthSignIn))
	e.add(post, "/v1/auth/oauth/authorize/signup", authProject, withBody(e.handleOAuthSignUp))
	e.add(post, "/v1/auth/oauth/authorize/update", authRefresh, withBody(e.handleOAuthUpdate))
	e.add(post, "/v1/auth/oauth/exchange", authProject, withBody(e.handleOAuthExchange))
	e.add(post, "/v1/auth/webauthn/update/start", authRefresh, withBody(e.handlePasskeyUpdateStart))
	e.add(post, "/v1/auth/webauthn/update/finish", authProject, withBody(e.handlePasskeyUpdateFinish))
	e.add(post, "/v1/auth/webauthn/signin/start", authProject, withBody(e.handlePasskeySignInStart))
	e.add(post, "/v1/auth/webauthn/signin/finish", authProject, withBody(e.handlePasskeySignInFinish))
	e.add(post, "/v1/auth/webauthn/signup/start", authProject, withBody(e.handlePasskeySignUpStart))
	e.add(post, "/v1/auth/webauthn/signup/finish", authProject, withBody(e.handlePasskeySignUpFinish))
	e.add(post, "/v1/auth/webauthn/signup-in/start", authProject, withBody(e.handlePasskeySignUpOrInStart))

	// management: users
	e.add(post, "/v1/mgmt/user/create", authManagement, withBody(e.handleUserCreate))
	e.add(post, "/v1/mgmt/user/create/test", authManagement, withBody(e.handleTestUserCreate))
	e.add(post, "/v1/mgmt/user/create/batch", authManagement, withBody(e.handleUserCreateBatch))
	e.add(post, "/v1/mgmt/user/update", authManagement, withBody(e.handleUserUpdate))
	e.add(patch, "/v1/mgmt/user/patch", authManagement, withBody(e.handleUserPatch))
	e.add(post, "/v1/mgmt/user/update/tenant/add", authManagement, withBody(e.handleUserAddTenant))
	e.add(post, "/v1/mgmt/user/update/tenant/remove", authManagement, withBody(e.handleUserRemoveTenant))
	e.add(post, "/v1/mgmt/user/update/status", authManagement, withBody(e.handleUserUpdateStatus))
	e.add(post, "/v1/mgmt/user/update/loginid", authManagement, withBody(e.handleUserUpdateLoginID))
	e.add(post, "/v1/mgmt/user/update/email", authManagement, withBody(e.handleUserUpdateEmail))
	e.add(post, "/v1/mgmt/user/update/phone", authManagement, withBody(e.handleUserUpdatePhone))
	e.add(post, "/v2/mgmt/user/search", authManagement, withBody(e.handleUserSearch))
	e.add(post, "/v2/mgmt/user/search/test", authManagement, withBody(e.handleTestUserSearch))
	e.add(post, "/v1/mgmt/user/delete", authManagement, withBody(e.handleUserDelete))
	e.add(post, "/v1/mgmt/user/delete/batch", authManagement, withBody(e.handleUserDeleteBatch))
	e.add(post, "/v1/mgmt/user/logout", authManagement, withBody(e.handleUserLogout))

	// management: tokens
	e.add(post, "/v1/mgmt/auth/signin", authManagement, withBody(e.handleMgmtSignIn))
	e.add(post, "/v1/mgmt/auth/signup", authManagement, withBody(e.handleMgmtSignUp))
	e.add(post, "/v1/mgmt/auth/signup-in", authManagement, withBody(e.handleMgmtSignUpOrIn))
	e.add(post, "/v1/mgmt/auth/anonymous", authManagement, withBody(e.handleMgmtAnonymous))
	e.add(post, "/v1/mgmt/jwt/update", authManagement, withBody(e.handleUpdateJWT))

	// management: tenants
	e.add(post, "/v1/mgmt/tenant/create", authManagement, withBody(e.handleTenantCreate))
	e.add(post, "/v1/mgmt/tenant/update", authManagement, withBody(e.handleTenantUpdate))
	e.add(post, "/v1/mgmt/tenant/delete", authManagement, withBody(e.handleTenantDelete))
	e.add(post, "/v1/mgmt/tenant/settings", authManagement, withBody(e.handleTenantConfigureSettings))
	e.add(post, "/v1/mgmt/tenant/search", authManagement, withBody(e.handleTenantSearch))

	// Paths that end in a variable segment (call.arg). The OTP and magic
	// link handlers check that segment before they read the body.
	e.dynamic = []dynamicRoute{
		{"/v2/keys/", map[string]route{get: {authNone, e.handleKeys}}},
		{"/v1/auth/otp/update/phone/", map[string]route{post: {authRefresh, e.handleOTPUpdatePhone}}},
		{"/v1/auth/otp/verify/", map[string]route{post: {authProject, e.handleOTPVerify}}},
		{"/v1/auth/otp/signup-in/", map[string]route{post: {authProject, e.handleOTPSignUpIn}}},
		{"/v1/auth/otp/signin/", map[string]route{post: {authProject, e.handleOTPSignIn}}},
		{"/v1/auth/otp/signup/", map[string]route{post: {authProject, e.handleOTPSignUp}}},
		{"/v1/flow/", map[string]route{post: {authNone, e.handleFlow}, get: {authNone, e.handleFlow}}},
		{"/v1/auth/magiclink/signin/", map[string]route{post: {authProject, e.handleMagicLinkSignIn}}},
		{"/v1/auth/magiclink/signup/", map[string]route{post: {authProject, e.handleMagicLinkSignUp}}},
		{"/v1/auth/magiclink/signup-in/", map[string]route{post: {authProject, e.handleMagicLinkSignUpIn}}},
		{"/v1/auth/magiclink/update/phone/", map[string]route{post: {authRefresh, e.handleMagicLinkUpdatePhone}}},
	}
}

// add routes method on path to h, for callers with the authorization auth.
func (e *Emulator) add(method, path string, auth authKind, h handlerFunc) {
	if e.exact[path] == nil {
		e.exact[path] = map[string]route{}
	}
	e.exact[path][method] = route{auth, h}
}
