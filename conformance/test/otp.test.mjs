// One-time codes as core-js-sdk 2.71.0 sends them (src/sdk/otp): sign-in,
// sign-up, sign-up-or-in, verify, and the email and phone updates with
// addToLoginIDs and the merges Descope documents (see the emulator's
// package documentation).
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { assertJWTResponse, claimsOf, ctest, fails, nodeSdk, ok, outbox, unique } from '../lib/harness.mjs';

const sdk = nodeSdk();
const users = sdk.management.user;

describe('OTP', () => {
  ctest('sign-in of an existing user, by email and by SMS', async () => {
    const id = unique();
    fails(await sdk.otp.signIn.email(`nobody-${id}@example.com`), 'sign-in of an unknown user', 'E062108', 400);

    const created = ok(await users.create(`ada-${id}`, { email: `ada-${id}@example.com`, phone: '+15550200100' }), 'create');
    const sent = ok(await sdk.otp.signIn.email(`ada-${id}`), 'sign-in by email');
    assert.equal(sent.maskedEmail, 'a***@example.com');
    fails(await sdk.otp.verify.email(`ada-${id}`, '000000'), 'a wrong code', 'E061102', 400);
    const jwt = ok(await sdk.otp.verify.email(`ada-${id}`, await outbox(`ada-${id}@example.com`)), 'verify');
    assertJWTResponse(jwt, 'OTP verify');
    assert.equal(jwt.firstSeen, false);
    assert.equal(jwt.user.userId, created.userId);
    assert.equal(jwt.user.status, 'enabled', 'the first sign-in enables an invited user');
    assert.deepEqual(claimsOf(jwt.sessionJwt).amr, ['email']);

    ok(await sdk.otp.signIn.sms(`ada-${id}`), 'sign-in by SMS');
    const bySms = ok(await sdk.otp.verify.sms(`ada-${id}`, await outbox('+15550200100')), 'verify by SMS');
    assert.equal(bySms.user.userId, created.userId);
    assert.equal(bySms.user.verifiedPhone, true);
  });

  ctest('sign-up of a new user; sign-up of an existing one fails', async () => {
    const id = unique();
    const login = `grace-${id}@example.com`;
    const sent = ok(await sdk.otp.signUp.email(login, { name: 'Grace', email: login }), 'sign-up');
    assert.equal(sent.maskedEmail, 'g***@example.com');
    fails(await users.load(login), 'the user before its code is verified', 'E112102', 400);
    const jwt = ok(await sdk.otp.verify.email(login, await outbox(login)), 'verify');
    assertJWTResponse(jwt, 'OTP sign-up verify');
    assert.equal(jwt.firstSeen, true);
    assert.equal(jwt.user.name, 'Grace');
    assert.equal(jwt.user.verifiedEmail, true);
    fails(await sdk.otp.signUp.email(login, { email: login }), 'sign-up of an existing user', 'E062107', 400);

    const phone = `+1555030${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`;
    ok(await sdk.otp.signUp.sms(phone), 'sign-up by SMS');
    const bySms = ok(await sdk.otp.verify.sms(phone, await outbox(phone)), 'verify by SMS');
    assert.equal(bySms.user.phone, phone);
  });

  ctest('sign-up-or-in', async () => {
    const login = `hopper-${unique()}@example.com`;
    ok(await sdk.otp.signUpOrIn.email(login), 'sign-up-or-in');
    const first = ok(await sdk.otp.verify.email(login, await outbox(login)), 'verify');
    assert.equal(first.firstSeen, true);
    ok(await sdk.otp.signUpOrIn.email(login), 'sign-up-or-in again');
    const again = ok(await sdk.otp.verify.email(login, await outbox(login)), 'verify again');
    assert.equal(again.firstSeen, false);
    assert.equal(again.user.userId, first.user.userId);
  });

  ctest('update email and phone with addToLoginIDs', async () => {
    const id = unique();
    const jwt = ok(await sdk.management.jwt.signUpOrIn(`ivy-${id}`), 'sign in');
    const email = `ivy-${id}@example.com`;
    const sent = ok(await sdk.otp.update.email(`ivy-${id}`, email, jwt.refreshJwt, { addToLoginIDs: true }), 'update email');
    assert.equal(sent.maskedEmail, 'i***@example.com');
    const before = ok(await users.load(`ivy-${id}`), 'load');
    assert.deepEqual(before.loginIds, [`ivy-${id}`], 'the address becomes a login ID only once verified');
    // The code verifies under the user's existing login ID.
    const done = ok(await sdk.otp.verify.email(`ivy-${id}`, await outbox(email)), 'verify the update');
    assert.equal(done.user.email, email);
    assert.equal(done.user.verifiedEmail, true);
    assert.deepEqual(done.user.loginIds, [`ivy-${id}`, email]);

    const phone = `+1555040${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`;
    const sentPhone = ok(await sdk.otp.update.phone.sms(`ivy-${id}`, phone, jwt.refreshJwt, { addToLoginIDs: true }), 'update phone');
    assert.match(sentPhone.maskedPhone, /\d\d$/);
    const donePhone = ok(await sdk.otp.verify.sms(`ivy-${id}`, await outbox(phone)), 'verify the phone update');
    assert.equal(donePhone.user.phone, phone);
    assert.deepEqual(donePhone.user.loginIds, [`ivy-${id}`, email, phone]);

    fails(await sdk.otp.update.email(`someone-else-${id}`, `x-${id}@example.com`, jwt.refreshJwt), 'update of another user\'s login ID', 'E011003', 401);
  });

  ctest('update onto another user\'s login ID merges: by default the other user goes', async () => {
    const id = unique();
    const other = ok(await users.create(`jay-${id}@example.com`, { email: `jay-${id}@example.com`, displayName: 'Jay', customAttributes: { plan: 'pro' } }), 'create the other user');
    const jwt = ok(await sdk.management.jwt.signUpOrIn(`anon-${id}`), 'sign in the updating user');
    ok(await sdk.otp.update.email(`anon-${id}`, `jay-${id}@example.com`, jwt.refreshJwt, { addToLoginIDs: true }), 'update onto the other user');
    const merged = ok(await sdk.otp.verify.email(`anon-${id}`, await outbox(`jay-${id}@example.com`)), 'verify');
    const me = claimsOf(jwt.sessionJwt).sub;
    assert.equal(claimsOf(merged.sessionJwt).sub, me, 'the updating user is kept');
    assert.deepEqual(merged.user.loginIds.sort(), [`anon-${id}`, `jay-${id}@example.com`].sort());
    fails(await users.loadByUserId(other.userId), 'the other user', 'E112102', 400);
    ok(await sdk.refresh(jwt.refreshJwt), 'the updating user\'s session lives on');
  });

  ctest('update onto another user\'s login ID with onMergeUseExisting: the updating user goes', async () => {
    const id = unique();
    const other = ok(await users.create(`kim-${id}@example.com`, { email: `kim-${id}@example.com` }), 'create the other user');
    const jwt = ok(await sdk.management.jwt.signUpOrIn(`anon-${id}`), 'sign in the updating user');
    ok(await sdk.otp.update.email(`anon-${id}`, `kim-${id}@example.com`, jwt.refreshJwt, { addToLoginIDs: true, onMergeUseExisting: true }), 'update onto the other user');
    const merged = ok(await sdk.otp.verify.email(`anon-${id}`, await outbox(`kim-${id}@example.com`)), 'verify');
    assert.equal(claimsOf(merged.sessionJwt).sub, other.userId, 'verify answers the other user\'s tokens');
    fails(await users.loadByUserId(claimsOf(jwt.sessionJwt).sub), 'the updating user', 'E112102', 400);
    assert.deepEqual(merged.user.loginIds.sort(), [`anon-${id}`, `kim-${id}@example.com`].sort(), 'the kept user takes the login IDs');
    assert.equal((await sdk.refresh(jwt.refreshJwt)).ok, false, 'the updating user\'s refresh token stops working');
    ok(await sdk.refresh(merged.refreshJwt), 'the kept user\'s new session refreshes');
  });
});
