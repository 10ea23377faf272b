// Passwords as core-js-sdk 2.71.0 sends them (src/sdk/password).
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { assertJWTResponse, ctest, fails, nodeSdk, ok, unique } from '../lib/harness.mjs';

const sdk = nodeSdk();

describe('password', () => {
  ctest('sign-up, sign-in, replace and update', async () => {
    const login = `pat-${unique()}@example.com`;
    const up = ok(await sdk.password.signUp(login, 'First-pass1!', { name: 'Pat', email: login }), 'sign-up');
    assertJWTResponse(up, 'password sign-up');
    assert.equal(up.firstSeen, true);
    assert.equal(up.user.name, 'Pat');
    assert.equal(up.user.password, true);
    fails(await sdk.password.signUp(login, 'Other-pass1!'), 'sign-up of an existing login ID', 'E062107', 400);

    const signedIn = ok(await sdk.password.signIn(login, 'First-pass1!'), 'sign-in');
    assertJWTResponse(signedIn, 'password sign-in');
    assert.equal(signedIn.firstSeen, false);
    fails(await sdk.password.signIn(login, 'wrong'), 'a wrong password', 'E062801', 401);
    fails(await sdk.password.signIn(`nobody-${unique()}`, 'x'), 'an unknown user', 'E062108', 400);

    const replaced = ok(await sdk.password.replace(login, 'First-pass1!', 'Second-pass2!'), 'replace');
    assertJWTResponse(replaced, 'password replace');
    fails(await sdk.password.signIn(login, 'First-pass1!'), 'the replaced password', 'E062801', 401);

    ok(await sdk.password.update(login, 'Third-pass3!', replaced.refreshJwt), 'update');
    fails(await sdk.password.signIn(login, 'Second-pass2!'), 'the updated password', 'E062801', 401);
    ok(await sdk.password.signIn(login, 'Third-pass3!'), 'sign-in with the new password');
  });
});
