// web-js-sdk 1.53.0's token persistence, in Node with a minimal browser
// (lib/browser.mjs): what a page keeps of a sign-in, how a reload finds the
// session again, and what logout clears. e2e's page test does the same in
// Chromium.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { localStorage, webSdk } from '../lib/browser.mjs';
import { assertJWTResponse, claimsOf, ctest, nodeSdk, ok, outbox, unique } from '../lib/harness.mjs';

describe('web-js-sdk token persistence', () => {
  ctest('sign-in persists the tokens and the sign-in signal; a reload finds the session; logout clears it', async () => {
    localStorage.clear();
    const login = `web-${unique()}@example.com`;
    ok(await nodeSdk().management.user.create(login, { email: login }), 'create');

    const page = webSdk();
    const authenticated = [];
    page.onIsAuthenticatedChange((v) => authenticated.push(v));
    ok(await page.otp.signIn.email(login), 'OTP sign-in');
    const jwt = ok(await page.otp.verify.email(login, await outbox(login)), 'verify');

    assert.equal(localStorage.getItem('DSR'), jwt.refreshJwt, 'the refresh token is kept');
    assert.equal(localStorage.getItem('DS'), jwt.sessionJwt, 'the session token is kept');
    assert.equal(localStorage.getItem('DSLI'), String(jwt.sessionExpiration), 'the logged-in indicator holds sessionExpiration');
    assert.equal(localStorage.getItem('DSRCN'), 'DSR', 'the refresh cookie\'s name (cookieName) is kept');
    assert.deepEqual(authenticated, [true], 'onIsAuthenticatedChange reported the sign-in');
    assert.equal(page.getRefreshToken(), jwt.refreshJwt);

    // A reload: a new SDK on the same storage asks try-refresh, as web
    // apps do on start (refresh(undefined, true)).
    const reloaded = webSdk();
    const again = [];
    reloaded.onIsAuthenticatedChange((v) => again.push(v));
    const refreshed = ok(await reloaded.refresh(undefined, true), 'try-refresh after a reload');
    assert.ok(refreshed?.sessionJwt, 'the reloaded page has a session: try-refresh sent the stored refresh token');
    assert.equal(claimsOf(refreshed.sessionJwt).sub, jwt.user.userId);
    assert.deepEqual(again, [true], 'the reloaded page is signed in');
    assert.equal(localStorage.getItem('DS'), refreshed.sessionJwt, 'the new session token is kept');

    const me = ok(await reloaded.me(), 'me with the stored refresh token');
    assert.equal(me.userId, jwt.user.userId);

    const signedOut = [];
    reloaded.onIsAuthenticatedChange((v) => signedOut.push(v));
    ok(await reloaded.logout(), 'logout');
    assert.deepEqual(signedOut, [false]);
    for (const key of ['DS', 'DSR', 'DSLI']) assert.equal(localStorage.getItem(key), null, `logout clears ${key}`);
    // What the SDK did above rests on these fields; checked last, so that a
    // missing one first shows what it breaks.
    assertJWTResponse(jwt, 'verify');
    const revoked = await nodeSdk().refresh(jwt.refreshJwt);
    assert.equal(revoked.ok, false, 'logout revoked the refresh token at the emulator');

    const afterLogout = await webSdk().refresh(undefined, true);
    assert.equal(afterLogout.ok, true);
    assert.equal(afterLogout.data, undefined, 'after logout a reload finds no session');
  });

  ctest('a failed refresh clears the stored tokens', async () => {
    localStorage.clear();
    const login = `web-${unique()}@example.com`;
    const jwt = ok(await nodeSdk().management.jwt.signUpOrIn(login), 'sign in');
    localStorage.setItem('DSR', jwt.refreshJwt);
    ok(await nodeSdk().logout(jwt.refreshJwt), 'revoke elsewhere');
    const page = webSdk();
    const res = await page.refresh();
    assert.equal(res.ok, false, 'refresh with a revoked token fails');
    assert.equal(res.error?.errorCode, 'E064001');
    assert.equal(localStorage.getItem('DSR'), null, 'web-js-sdk dropped the revoked token');
  });
});
