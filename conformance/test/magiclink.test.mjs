// Magic links as core-js-sdk 2.71.0 sends them (src/sdk/magicLink; dist
// index.d.ts `magicLink`): signUpOrIn.email(loginId, URI),
// update.email(loginId, email, URI, token, {addToLoginIDs}) and
// verify(token). The link the emulator "sent" is read from its outbox,
// GET /emulator/v1/outbox/link?address=… ({link, token}).
//
// A link's expiry is not run here: the suite runs one emulator on the real
// clock, and its tests do not sleep. descopetest/magiclink_test.go
// (TestMagicLinkSignInUpAndExpiry) runs it on the emulator's clock.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { assertJWTResponse, claimsOf, coreSdk, ctest, fails, http, nodeSdk, ok, unique } from '../lib/harness.mjs';

const sdk = coreSdk();
const mgmt = nodeSdk().management;
const users = mgmt.user;
const verifyURI = 'https://app.example.test/verify';

/** The link the emulator last sent to address, and its token, checked. */
async function linkTo(address) {
  const res = await http('GET', `/emulator/v1/outbox/link?address=${encodeURIComponent(address)}`);
  assert.equal(res.status, 200, `the outbox has a link for ${address}`);
  const link = new URL(res.body.link);
  assert.equal(`${link.origin}${link.pathname}`, verifyURI, 'the link points to the URI of the call');
  assert.equal(link.searchParams.get('t'), res.body.token, 'the token is the link\'s t parameter');
  assert.match(res.body.token, /^[\w-]{20,}$/);
  return res.body.token;
}

describe('magic link', () => {
  ctest('sign-up-or-in by email; verify gives a session; a used token is refused', async () => {
    const login = `ml-${unique()}@example.com`;
    const sent = ok(await sdk.magicLink.signUpOrIn.email(login, verifyURI), 'sign-up-or-in');
    assert.equal(sent.maskedEmail, 'm***@example.com');
    fails(await users.load(login), 'the user before the link is followed', 'E112102', 400);
    const token = await linkTo(login);

    const first = ok(await sdk.magicLink.verify(token), 'verify');
    assertJWTResponse(first, 'magic link verify');
    assert.equal(first.firstSeen, true);
    assert.equal(first.user.email, login);
    assert.equal(first.user.verifiedEmail, true);
    assert.deepEqual(first.user.loginIds, [login]);
    assert.deepEqual(claimsOf(first.sessionJwt).amr, ['email']);
    ok(await sdk.me(first.refreshJwt), 'the session is usable');

    fails(await sdk.magicLink.verify(token), 'the used token', 'E061102', 400);
    fails(await sdk.magicLink.verify('not-a-token'), 'an unknown token', 'E061102', 400);

    // A second sign-up-or-in sends a new link, which signs the same user in.
    ok(await sdk.magicLink.signUpOrIn.email(login, verifyURI), 'sign-up-or-in again');
    const again = ok(await sdk.magicLink.verify(await linkTo(login)), 'verify again');
    assert.equal(again.firstSeen, false);
    assert.equal(again.user.userId, first.user.userId);
  });

  ctest('update email with addToLoginIDs for a signed-in user', async () => {
    const id = unique();
    const jwt = ok(await mgmt.jwt.signUpOrIn(`mlu-${id}`), 'sign in');
    const email = `mlu-${id}@example.com`;
    const sent = ok(await sdk.magicLink.update.email(`mlu-${id}`, email, verifyURI, jwt.refreshJwt, { addToLoginIDs: true }), 'update email');
    assert.equal(sent.maskedEmail, 'm***@example.com');
    const before = ok(await users.load(`mlu-${id}`), 'load before');
    assert.deepEqual(before.loginIds, [`mlu-${id}`], 'the address becomes a login ID only once the link is followed');
    assert.notEqual(before.email, email);

    const done = ok(await sdk.magicLink.verify(await linkTo(email)), 'verify the update');
    assertJWTResponse(done, 'magic link update verify');
    assert.equal(claimsOf(done.sessionJwt).sub, claimsOf(jwt.sessionJwt).sub, 'the same user');
    const after = ok(await users.load(email), 'load by the new login ID');
    assert.equal(after.userId, claimsOf(jwt.sessionJwt).sub);
    assert.deepEqual(after.loginIds, [`mlu-${id}`, email]);
    assert.equal(after.email, email);
    assert.equal(after.verifiedEmail, true);

    fails(await sdk.magicLink.update.email(`someone-else-${id}`, `x-${id}@example.com`, verifyURI, jwt.refreshJwt), 'update of another user\'s login ID', 'E011003', 401);
    fails(await sdk.magicLink.update.email(`mlu-${id}`, `y-${id}@example.com`, verifyURI), 'update without a session', 'E011003', 401);
  });
});
