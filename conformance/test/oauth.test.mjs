// OAuth as core-js-sdk 2.71.0 sends it (src/sdk/oauth; dist index.d.ts
// `oauth`): start(provider, redirectUrl) posts to /v1/auth/oauth/authorize
// with provider and redirectURL in the query and answers {url};
// exchange(code) posts {code} to /v1/auth/oauth/exchange. The emulator's
// url is its provider page (descopetest/oauth_page.go), whose form a test
// posts as a browser would; the page redirects to redirectURL with code,
// or err.
//
// Neither core-js-sdk nor node-sdk has OAuth's update call
// (/v1/auth/oauth/authorize/update, go-sdk's OAuth().UpdateUser): it is
// sent here raw, as go-sdk sends it, and finished with the SDK's exchange.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { assertJWTResponse, baseUrl, claimsOf, coreSdk, ctest, fails, http, nodeSdk, ok, projectId, recordingFetch, unique } from '../lib/harness.mjs';

const sdk = coreSdk();
const mgmt = nodeSdk().management;
const callback = 'https://app.example.test/oauth/callback';

/**
 * approve opens the provider page at url, checks its form, and posts it
 * as the browser would with the account and the button (allow or deny).
 * It answers the query of the page's redirect to the callback.
 */
async function approve(url, { email, name = '', action = 'allow' }) {
  assert.equal(typeof url, 'string', 'the authorize answer has url');
  assert.ok(url.startsWith(`${baseUrl}/emulator/v1/oauth/authorize?state=`), `the authorize answer's url is the emulator's provider page: ${url}`);
  const page = await recordingFetch(url);
  assert.equal(page.status, 200, 'the provider page opens');
  const html = await page.text();
  const form = html.match(/<form method="post" action="([^"]+)" id="account-form">([\s\S]*?)<\/form>/);
  assert.ok(form, 'the page has the account form');
  const state = form[2].match(/<input type="hidden" name="state" value="([^"]+)">/)?.[1];
  assert.ok(state, 'the form carries the state');
  for (const field of ['email', 'name', 'sub', 'verified']) assert.match(form[2], new RegExp(`name="${field}"`), `the form has ${field}`);
  assert.match(form[2], /name="action" value="allow"/);
  assert.match(form[2], /name="action" value="deny"/);

  const body = new URLSearchParams({ state, email, name, sub: '', action });
  if (action === 'allow') body.set('verified', 'on');
  const res = await recordingFetch(new URL(form[1], url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
    redirect: 'manual',
  });
  assert.equal(res.status, 303, 'the page redirects');
  const back = new URL(res.headers.get('location'));
  assert.equal(`${back.origin}${back.pathname}`, callback, 'to the redirect URL of the start call');
  return back.searchParams;
}

describe('OAuth', () => {
  ctest('start, the provider page, exchange; a code works once; a second sign-in finds the user', async () => {
    const email = `oa-${unique()}@example.com`;
    const started = ok(await sdk.oauth.start('google', callback), 'start');
    const q = await approve(started.url, { email, name: 'Ola' });
    assert.equal(q.get('err'), null);
    const code = q.get('code');
    assert.match(code ?? '', /^[\w-]{20,}$/, 'the redirect carries a code');

    const jwt = ok(await sdk.oauth.exchange(code), 'exchange');
    assertJWTResponse(jwt, 'OAuth exchange');
    assert.equal(jwt.firstSeen, true);
    assert.equal(jwt.user.email, email);
    assert.equal(jwt.user.name, 'Ola');
    assert.equal(jwt.user.verifiedEmail, true);
    assert.deepEqual(jwt.user.loginIds, [email]);
    assert.deepEqual(claimsOf(jwt.sessionJwt).amr, ['oauth']);
    ok(await sdk.refresh(jwt.refreshJwt), 'the refresh token refreshes');

    fails(await sdk.oauth.exchange(code), 'the code again', 'E011003', 400);
    fails(await sdk.oauth.exchange('not-a-code'), 'an unknown code', 'E011003', 400);

    const again = ok(await sdk.oauth.start('google', callback), 'start again');
    const second = ok(await sdk.oauth.exchange((await approve(again.url, { email })).get('code')), 'exchange again');
    assert.equal(second.firstSeen, false);
    assert.equal(second.user.userId, jwt.user.userId);
  });

  ctest('the deny button redirects with err and no code', async () => {
    const started = ok(await sdk.oauth.start('github', callback), 'start');
    const q = await approve(started.url, { email: `no-${unique()}@example.com`, action: 'deny' });
    assert.equal(q.get('err'), 'access_denied');
    assert.equal(q.get('code'), null);
    // The page's state is spent: it cannot be approved afterwards.
    const page = await http('GET', new URL(started.url).pathname + new URL(started.url).search);
    assert.equal(page.status, 400, 'the provider page of a used state');
  });

  ctest('update links a provider account to the signed-in user', async () => {
    const id = unique();
    const signedIn = ok(await mgmt.jwt.signUpOrIn(`oau-${id}`), 'sign in');
    const me = claimsOf(signedIn.sessionJwt).sub;
    const email = `oau-${id}@example.com`;
    const query = new URLSearchParams({ provider: 'google', redirectURL: callback, allowAllMerge: 'true' });
    const started = await http('POST', `/v1/auth/oauth/authorize/update?${query}`, {
      headers: { authorization: `Bearer ${projectId}:${signedIn.refreshJwt}` },
      body: {},
    });
    assert.equal(started.status, 200, 'authorize/update');
    const jwt = ok(await sdk.oauth.exchange((await approve(started.body.url, { email, name: 'Oau' })).get('code')), 'exchange');
    assertJWTResponse(jwt, 'OAuth update exchange');
    assert.equal(claimsOf(jwt.sessionJwt).sub, me, 'the signed-in user');
    assert.equal(jwt.firstSeen, false);
    assert.equal(jwt.user.email, email);
    assert.deepEqual(jwt.user.loginIds, [`oau-${id}`], 'the update has no addToLoginIDs: the email is no login ID');
    const loaded = ok(await mgmt.user.loadByUserId(me), 'load');
    assert.equal(loaded.email, email);

    // The linked account now signs the same user in.
    const started2 = ok(await sdk.oauth.start('google', callback), 'start');
    const again = ok(await sdk.oauth.exchange((await approve(started2.url, { email })).get('code')), 'exchange');
    assert.equal(claimsOf(again.sessionJwt).sub, me);

    // Without a session the update is refused.
    const anonymous = await http('POST', `/v1/auth/oauth/authorize/update?${query}`, { headers: { authorization: `Bearer ${projectId}` }, body: {} });
    assert.equal(anonymous.status, 401, 'authorize/update without a refresh token');
  });
});
