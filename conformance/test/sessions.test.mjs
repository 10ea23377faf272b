// Sessions: keys, validation and refresh as node-sdk 2.13.0 does them
// (lib/index.ts), refresh, try-refresh, me, logout and logout all as
// core-js-sdk 2.71.0 sends them, the refresh token also from a cookie.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { assertJWTResponse, claimsOf, coreSdk, ctest, fails, http, nodeSdk, ok, projectId, unique } from '../lib/harness.mjs';

const sdk = nodeSdk();

async function signUp(prefix) {
  const login = `${prefix}-${unique()}@example.com`;
  const data = ok(await sdk.password.signUp(login, 'Sup3r-secret!', { email: login, name: prefix }), 'password sign-up');
  return { login, ...data };
}

describe('sessions', () => {
  ctest('keys from /v2/keys/<project> validate sessions; tampering does not', async () => {
    const keys = await http('GET', `/v2/keys/${projectId}`, { headers: { Authorization: `Bearer ${projectId}` } });
    assert.equal(keys.status, 200);
    assert.ok(keys.body.keys.length >= 1, 'at least one key');
    for (const k of keys.body.keys) {
      assert.equal(k.alg, 'RS256', 'alg (node-sdk imports the JWK by it)');
      assert.equal(k.use, 'sig');
      assert.equal(typeof k.kid, 'string');
    }
    const ada = await signUp('ada');
    assertJWTResponse(ada, 'password sign-up');
    assert.equal(ada.firstSeen, true, 'a sign-up is a first sign-in');
    const info = await sdk.validateSession(ada.sessionJwt);
    assert.equal(info.token.sub, ada.user.userId);
    assert.equal(info.token.iss, projectId, 'node-sdk accepts the issuer as this project');

    const [h, p, sig] = ada.sessionJwt.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claimsOf(ada.sessionJwt), sub: 'someone-else' })).toString('base64url');
    await assert.rejects(sdk.validateSession(`${h}.${forged}.${sig}`), 'a tampered session validates');
    await assert.rejects(sdk.validateSession(`${h}.${p}.${sig.slice(0, -4)}AAAA`), 'a bad signature validates');
  });

  ctest('refreshSession and validateAndRefreshSession', async () => {
    const ada = await signUp('ada');
    const refreshed = await sdk.refreshSession(ada.refreshJwt);
    assert.equal(refreshed.token.sub, ada.user.userId);
    assert.equal(refreshed.refreshJwt, undefined, 'without rotation refresh answers no new refresh token');
    // node-sdk writes the refresh cookie of a sign-in from the answer's
    // cookie fields (lib/helpers.ts generateCookie).
    assert.deepEqual(ada.cookies, [`DSR=${ada.refreshJwt}; Domain=${ada.cookieDomain}; Max-Age=${ada.cookieMaxAge}; Path=/; HttpOnly; SameSite=Strict`]);
    assert.ok(ada.cookieMaxAge > 0, 'cookieMaxAge is the refresh token\'s lifetime');

    const raw = ok(await sdk.refresh(ada.refreshJwt), 'refresh');
    assertJWTResponse(raw, 'refresh', ada.refreshJwt);
    assert.equal(raw.firstSeen, false);

    const tampered = `${ada.sessionJwt.slice(0, -6)}AAAAAA`;
    const viaRefresh = await sdk.validateAndRefreshSession(tampered, ada.refreshJwt);
    assert.equal(viaRefresh.token.sub, ada.user.userId, 'an invalid session is refreshed');
    const noSession = await sdk.validateAndRefreshSession(undefined, ada.refreshJwt);
    assert.equal(noSession.token.sub, ada.user.userId, 'a missing session is refreshed');
    const valid = await sdk.validateAndRefreshSession(ada.sessionJwt, ada.refreshJwt);
    assert.equal(valid.jwt, ada.sessionJwt, 'a valid session is kept');

    await assert.rejects(sdk.refreshSession(ada.sessionJwt), 'a session token is no refresh token');
  });

  ctest('me, select tenant, logout and logout all', async () => {
    const ada = await signUp('ada');
    const me = ok(await sdk.me(ada.refreshJwt), 'me');
    assert.equal(me.userId, ada.user.userId);
    assert.deepEqual(me.loginIds, [ada.login]);

    const tenantId = ok(await sdk.management.tenant.create(`T ${unique()}`), 'tenant create').id;
    ok(await sdk.management.user.addTenant(ada.login, tenantId), 'add tenant');
    const selected = ok(await sdk.selectTenant(tenantId, ada.refreshJwt), 'select tenant');
    assertJWTResponse(selected, 'select tenant', ada.refreshJwt);
    assert.equal(claimsOf(selected.sessionJwt).dct, tenantId);

    const other = ok(await sdk.password.signIn(ada.login, 'Sup3r-secret!'), 'second sign-in');
    ok(await sdk.logout(ada.refreshJwt), 'logout');
    fails(await sdk.refresh(ada.refreshJwt), 'refresh after logout', 'E064001', 401);
    ok(await sdk.refresh(other.refreshJwt), 'the other session lives on');

    const third = ok(await sdk.password.signIn(ada.login, 'Sup3r-secret!'), 'third sign-in');
    ok(await sdk.logoutAll(third.refreshJwt), 'logout all');
    fails(await sdk.refresh(other.refreshJwt), 'refresh of another session after logout all', 'E064001', 401);
    fails(await sdk.me(third.refreshJwt), 'me after logout all', 'E064001', 401);
  });

  ctest('try-refresh answers the session, or {} instead of failing', async () => {
    const ada = await signUp('ada');
    const core = coreSdk();
    const refreshed = ok(await core.refresh(ada.refreshJwt, { dcs: 'f', dcr: 't' }, undefined, true), 'try-refresh');
    assertJWTResponse(refreshed, 'try-refresh', ada.refreshJwt);

    for (const [what, token] of [['no token', undefined], ['a malformed token', 'a.b.c'], ['a session token', ada.sessionJwt]]) {
      const res = await core.refresh(token, undefined, undefined, true);
      assert.equal(res.ok, true, `try-refresh with ${what} must not fail`);
      assert.equal(res.data?.sessionJwt, undefined, `try-refresh with ${what} answers no session`);
    }
    ok(await sdk.logout(ada.refreshJwt), 'logout');
    const after = await core.refresh(ada.refreshJwt, undefined, undefined, true);
    assert.equal(after.ok, true, 'try-refresh after logout must not fail');
    assert.equal(after.data?.sessionJwt, undefined);
  });

  ctest('refresh, me and logout read the refresh token from the DSR cookie', async () => {
    const ada = await signUp('ada');
    // As a browser sends it: credentials include, the cookie, no token.
    const browser = coreSdk({ baseHeaders: { Cookie: `DSR=${ada.refreshJwt}` } });
    const refreshed = ok(await browser.refresh(), 'refresh with the DSR cookie');
    assertJWTResponse(refreshed, 'refresh with the DSR cookie', ada.refreshJwt);
    assert.equal(ok(await browser.me(), 'me with the DSR cookie').userId, ada.user.userId);

    // The cookie x-descope-refresh-cookie-name names (core-js-sdk's refreshCookieName).
    const named = coreSdk({ refreshCookieName: 'APP_DSR', baseHeaders: { Cookie: `APP_DSR=${ada.refreshJwt}` } });
    ok(await named.refresh(), 'refresh with the named cookie');
    const wrong = coreSdk({ refreshCookieName: 'APP_DSR', baseHeaders: { Cookie: `DSR=${ada.refreshJwt}` } });
    fails(await wrong.refresh(), 'refresh with DSR when the header names APP_DSR', 'E011003', 401);

    ok(await browser.logout(), 'logout with the DSR cookie');
    fails(await browser.refresh(), 'refresh with the cookie after logout', 'E064001', 401);

    const bob = await signUp('bob');
    const bob2 = ok(await sdk.password.signIn(bob.login, 'Sup3r-secret!'), 'second sign-in');
    ok(await coreSdk({ baseHeaders: { Cookie: `DSR=${bob.refreshJwt}` } }).logoutAll(), 'logout all with the DSR cookie');
    fails(await sdk.refresh(bob2.refreshJwt), 'refresh after logout all', 'E064001', 401);

    fails(await coreSdk().refresh(), 'refresh with neither token nor cookie', 'E011003', 401);
  });
});
