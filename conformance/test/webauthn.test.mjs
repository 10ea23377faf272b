// Passkeys as core-js-sdk 2.71.0 sends them (src/sdk/webauthn, dist
// index.d.ts `webauthn`): update.start(loginId, origin, token) adds a
// passkey to the signed-in user, update.finish(transactionId, response),
// then signIn.start(loginId, origin) and signIn.finish(transactionId,
// response). The browser's part is lib/authenticator.mjs.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { Authenticator } from '../lib/authenticator.mjs';
import { assertJWTResponse, claimsOf, coreSdk, ctest, extraOrigin, fails, nodeSdk, ok, unique } from '../lib/harness.mjs';

const sdk = coreSdk();
const mgmt = nodeSdk();
// The origin the emulator was started to allow; its host is the relying
// party (passkeys need https, or http on localhost).
const origin = extraOrigin || 'http://localhost:3000';

describe('WebAuthn', () => {
  ctest('update adds a passkey to the signed-in user; it signs the user in; a replayed assertion is refused', async () => {
    const login = `pk-${unique()}`;
    const signedIn = ok(await mgmt.management.jwt.signUpOrIn(login), 'sign in');
    const me = claimsOf(signedIn.sessionJwt).sub;
    const authenticator = new Authenticator();

    const start = ok(await sdk.webauthn.update.start(login, origin, signedIn.refreshJwt), 'update start');
    assert.equal(typeof start.transactionId, 'string', 'update start: transactionId');
    assert.equal(typeof start.options, 'string', 'update start: options are a JSON string the browser parses');
    const created = JSON.parse(start.options).publicKey;
    assert.equal(created.rp.id, new URL(origin).hostname, 'the relying party is the origin\'s host');
    assert.equal(typeof created.challenge, 'string', 'update start: publicKey.challenge');
    assert.ok(created.user?.id, 'update start: publicKey.user.id (the user handle)');
    const finished = ok(await sdk.webauthn.update.finish(start.transactionId, authenticator.create(start.options, origin)), 'update finish');
    assert.equal(finished?.jwt, undefined, 'an update without mfa answers no tokens');
    fails(await sdk.webauthn.update.finish(start.transactionId, authenticator.create(start.options, origin)), 'the update transaction again', 'E011003', 401);

    const signIn = ok(await sdk.webauthn.signIn.start(login, origin), 'sign-in start');
    const got = JSON.parse(signIn.options).publicKey;
    assert.equal(got.rpId, new URL(origin).hostname, 'sign-in start: publicKey.rpId');
    assert.equal(got.allowCredentials?.length, 1, 'sign-in start: the user\'s one passkey is allowed');
    assert.notEqual(got.challenge, created.challenge, 'every ceremony has its own challenge');
    const assertion = authenticator.get(signIn.options, origin);
    const jwt = ok(await sdk.webauthn.signIn.finish(signIn.transactionId, assertion), 'sign-in finish');
    assertJWTResponse(jwt, 'WebAuthn sign-in');
    assert.equal(claimsOf(jwt.sessionJwt).sub, me, 'the passkey signs in the user who added it');
    assert.deepEqual(claimsOf(jwt.sessionJwt).amr, ['webauthn']);
    assert.equal(jwt.firstSeen, false);

    // The same assertion, to the same transaction and to a new one: the
    // transaction is spent, and the new one's challenge differs.
    fails(await sdk.webauthn.signIn.finish(signIn.transactionId, assertion), 'the assertion replayed to its transaction', 'E011003', 401);
    const again = ok(await sdk.webauthn.signIn.start(login, origin), 'sign-in start again');
    fails(await sdk.webauthn.signIn.finish(again.transactionId, assertion), 'the assertion replayed to a new transaction', 'E011003', 401);
    // A refused finish spends its transaction too; a fresh ceremony with
    // the same authenticator still signs the user in.
    fails(await sdk.webauthn.signIn.finish(again.transactionId, authenticator.get(again.options, origin)), 'the refused transaction once more', 'E011003', 401);
    const third = ok(await sdk.webauthn.signIn.start(login, origin), 'sign-in start a third time');
    const next = ok(await sdk.webauthn.signIn.finish(third.transactionId, authenticator.get(third.options, origin)), 'a fresh assertion');
    assert.equal(claimsOf(next.sessionJwt).sub, me);
  });

  ctest('a passkey from another authenticator, or for another origin, is refused', async () => {
    const login = `pk-${unique()}`;
    const signedIn = ok(await mgmt.management.jwt.signUpOrIn(login), 'sign in');
    const start = ok(await sdk.webauthn.update.start(login, origin, signedIn.refreshJwt), 'update start');
    const authenticator = new Authenticator();
    ok(await sdk.webauthn.update.finish(start.transactionId, authenticator.create(start.options, origin)), 'update finish');

    // Another authenticator that holds a passkey for the same relying party
    // but not this user's.
    const stranger = new Authenticator();
    const other = ok(await sdk.webauthn.update.start(login, origin, signedIn.refreshJwt), 'a second update start');
    stranger.create(other.options, origin); // never finished: not registered
    const signIn = ok(await sdk.webauthn.signIn.start(login, origin), 'sign-in start');
    const forged = JSON.parse(signIn.options);
    forged.publicKey.allowCredentials = [];
    fails(await sdk.webauthn.signIn.finish(signIn.transactionId, stranger.get(JSON.stringify(forged), origin)), 'an unregistered passkey', 'E011003', 401);

    // A well-signed assertion whose clientDataJSON names another origin
    // than the one the ceremony started for (a page elsewhere relaying
    // the options).
    const elsewhere = ok(await sdk.webauthn.signIn.start(login, origin), 'sign-in start');
    const relayed = authenticator.get(elsewhere.options, 'https://evil.example.test');
    fails(await sdk.webauthn.signIn.finish(elsewhere.transactionId, relayed), 'an assertion for another origin', 'E011003', 401);
  });
});
