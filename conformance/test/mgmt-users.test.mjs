// Management of users as node-sdk 2.13.0 calls it (lib/management/user.ts).
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ctest, fails, nodeSdk, ok, unique } from '../lib/harness.mjs';

const sdk = nodeSdk();
const users = sdk.management.user;

// The fields of Descope's UserResponse that the SDKs and applications read.
// core-js-sdk types userId, loginIds, status and createdTime as always
// present and the rest as optional: the emulator leaves empty ones out (as
// go-sdk's UserResponse does), the least convenient reading, so a reader
// must treat a missing field as empty.
function assertUserShape(u, what) {
  const always = { userId: 'string', loginIds: 'object', status: 'string', createdTime: 'number' };
  const optional = { name: 'string', email: 'string', phone: 'string', verifiedEmail: 'boolean', verifiedPhone: 'boolean', roleNames: 'object', userTenants: 'object', test: 'boolean' };
  for (const [name, type] of Object.entries(always)) {
    assert.equal(typeof u?.[name], type, `${what}: ${name} is ${JSON.stringify(u?.[name])}, want a ${type}`);
  }
  for (const [name, type] of Object.entries(optional)) {
    if (u[name] !== undefined) assert.equal(typeof u[name], type, `${what}: ${name} is ${JSON.stringify(u[name])}, want a ${type} or nothing`);
  }
  // createdTime is in seconds, not milliseconds.
  assert.ok(Math.abs(u.createdTime - Date.now() / 1000) < 3600, `${what}: createdTime ${u.createdTime} is not now in seconds`);
}

describe('management: users', () => {
  ctest('create (options and positional forms), load, load by user ID', async () => {
    const id = unique();
    const ada = ok(await users.create(`ada-${id}@example.com`, { email: `ada-${id}@example.com`, displayName: 'Ada', givenName: 'Ada', customAttributes: { team: 'blue' } }), 'create');
    assertUserShape(ada, 'create');
    assert.equal(ada.name, 'Ada', 'displayName becomes name');
    assert.equal(ada.status, 'invited', 'a user made by management create is invited until its first sign-in');
    assert.deepEqual(ada.customAttributes, { team: 'blue' });

    const bob = ok(await users.create(`bob-${id}`, `bob-${id}@example.com`, '+15550100100', 'Bob', undefined, undefined, undefined, undefined, true, false, undefined, undefined, undefined, [`bob-alt-${id}`]), 'create (positional)');
    assert.deepEqual(bob.loginIds, [`bob-${id}`, `bob-alt-${id}`]);
    assert.equal(bob.verifiedEmail, true);
    assert.equal(bob.phone, '+15550100100');

    fails(await users.create(`bob-alt-${id}`), 'create with a taken login ID', 'E062107', 400);

    assert.equal(ok(await users.load(`bob-alt-${id}`), 'load by a second login ID').userId, bob.userId);
    assert.equal(ok(await users.load(bob.userId), 'load by user ID as loginId').userId, bob.userId);
    assert.equal(ok(await users.loadByUserId(ada.userId), 'load by user ID').name, 'Ada');
    fails(await users.load(`nobody-${id}`), 'load of an unknown user', 'E112102', 400);
  });

  ctest('update replaces; patch changes only what it sends, under node-sdk names', async () => {
    const id = unique();
    const login = `carol-${id}@example.com`;
    ok(await users.create(login, { email: login, displayName: 'Carol', phone: '+15550100200', verifiedEmail: true }), 'create');

    const patched = ok(await users.patch(login, { displayName: 'Carol Shaw', additionalIdentifiers: [`carol-alt-${id}`], customAttributes: { n: 1 } }), 'patch');
    assert.equal(patched.name, 'Carol Shaw', 'patch displayName');
    assert.deepEqual(patched.loginIds, [login, `carol-alt-${id}`], 'patch additionalIdentifiers');
    assert.equal(patched.email, login, 'patch left email');
    assert.equal(patched.verifiedEmail, true, 'patch left verifiedEmail');
    assert.equal(patched.phone, '+15550100200', 'patch left phone');
    const loaded = ok(await users.load(`carol-alt-${id}`), 'load by the patched-in login ID');
    assert.equal(loaded.name, 'Carol Shaw');
    fails(await users.patch(`nobody-${id}`, { displayName: 'x' }), 'patch of an unknown user', 'E112102', 400);

    const updated = ok(await users.update(login, { displayName: 'C. Shaw' }), 'update');
    assert.equal(updated.name, 'C. Shaw');
    assert.equal(updated.email ?? '', '', 'update is a full replace: the email it did not send is gone');
    assert.equal(updated.phone ?? '', '');
  });

  ctest('status, login ID, email and phone', async () => {
    const id = unique();
    const login = `dan-${id}`;
    ok(await users.create(login, { email: `dan-${id}@example.com` }), 'create');
    ok(await users.create(`eve-${id}`, { email: `eve-${id}@example.com` }), 'create other');

    assert.equal(ok(await users.deactivate(login), 'deactivate').status, 'disabled');
    assert.equal(ok(await users.activate(login), 'activate').status, 'enabled');

    const renamed = ok(await users.updateLoginId(login, `dan2-${id}`), 'update login ID');
    assert.deepEqual(renamed.loginIds, [`dan2-${id}`]);
    fails(await users.load(login), 'load by the old login ID', 'E112102', 400);

    const emailed = ok(await users.updateEmail(`dan2-${id}`, `dan-new-${id}@example.com`, true), 'update email');
    assert.equal(emailed.email, `dan-new-${id}@example.com`);
    assert.equal(emailed.verifiedEmail, true);
    const conflict = await users.updateEmail(`dan2-${id}`, `eve-${id}@example.com`, true, true);
    assert.equal(conflict.ok, false, 'update email with failOnConflict onto another user\'s email must fail');

    const phoned = ok(await users.updatePhone(`dan2-${id}`, '+15550100300', false), 'update phone');
    assert.equal(phoned.phone, '+15550100300');
    assert.equal(phoned.verifiedPhone ?? false, false);
  });

  ctest('tenants of a user', async () => {
    const id = unique();
    const tenantId = ok(await sdk.management.tenant.create(`Tenant ${id}`), 'tenant create').id;
    ok(await users.create(`fay-${id}`), 'create');
    const added = ok(await users.addTenant(`fay-${id}`, tenantId), 'add tenant');
    assert.deepEqual(added.userTenants.map((t) => t.tenantId), [tenantId]);
    const removed = ok(await users.removeTenant(`fay-${id}`, tenantId), 'remove tenant');
    assert.deepEqual(removed.userTenants ?? [], []);
    const withTenant = ok(await users.create(`gus-${id}`, { userTenants: [{ tenantId, roleNames: [] }] }), 'create in a tenant');
    assert.equal(withTenant.userTenants[0]?.tenantId, tenantId);
  });

  ctest('search, and search of test users', async () => {
    const id = unique();
    const emails = [1, 2, 3].map((n) => `s${n}-${id}@example.com`);
    for (const email of emails) ok(await users.create(email, { email }), `create ${email}`);
    ok(await users.createTestUser(`test-${id}`, { email: `test-${id}@example.com` }), 'create test user');

    const all = ok(await users.search({ emails: [...emails, `test-${id}@example.com`], limit: 10 }), 'search by emails');
    assert.equal(all.total, 3, 'search leaves test users out');
    assert.deepEqual(all.users.map((u) => u.email).sort(), [...emails].sort());

    const page = ok(await users.search({ emails, limit: 2, page: 1, sort: [{ field: 'createdTime', desc: false }] }), 'search page 2');
    assert.equal(page.users.length, 1);
    assert.equal(page.total, 3);
    assert.equal(page.users[0].email, emails[2], 'sorted by createdTime, the last one is on page 2');

    const since = ok(await users.search({ loginIds: emails, fromCreatedTime: Date.now() - 60_000 }), 'search by created time (ms)');
    assert.equal(since.total, 3);

    const tests = ok(await users.searchTestUsers({ emails: [...emails, `test-${id}@example.com`] }), 'search test users');
    assert.deepEqual(tests.users.map((u) => u.loginIds[0]), [`test-${id}`]);
    assert.equal(tests.users[0].test, true);
    assert.equal(tests.total, 1);
  });

  ctest('batch create, deletes and user logout', async () => {
    const id = unique();
    ok(await users.create(`h1-${id}`), 'create');
    const batch = ok(await users.createBatch([{ loginId: `h2-${id}`, email: `h2-${id}@example.com` }, { loginId: `h1-${id}` }]), 'create batch');
    assert.deepEqual(batch.createdUsers.map((u) => u.loginIds[0]), [`h2-${id}`]);
    assert.equal(batch.failedUsers.length, 1, 'the taken login ID fails');
    assert.ok(batch.failedUsers[0].failure, 'a failure says why');

    const jwt = ok(await sdk.management.jwt.signIn(`h1-${id}`), 'management sign-in');
    ok(await users.logoutUser(`h1-${id}`), 'log the user out');
    fails(await sdk.refresh(jwt.refreshJwt), 'refresh after the user was logged out', 'E064001', 401);

    const h1 = ok(await users.load(`h1-${id}`), 'load');
    ok(await users.delete(`h1-${id}`), 'delete');
    fails(await users.loadByUserId(h1.userId), 'load of a deleted user', 'E112102', 400);
    ok(await users.delete(`h1-${id}`), 'deleting no one succeeds');

    const h2 = ok(await users.load(`h2-${id}`), 'load');
    ok(await users.deleteByUserId(h2.userId), 'delete by user ID');
    fails(await users.load(`h2-${id}`), 'load after delete by user ID', 'E112102', 400);

    const ids = [];
    for (const n of [3, 4]) ids.push(ok(await users.create(`h${n}-${id}`), 'create').userId);
    ok(await users.deleteBatch(ids), 'delete batch');
    fails(await users.load(`h3-${id}`), 'load after delete batch', 'E112102', 400);
  });

  ctest('delete all test users', async () => {
    const id = unique();
    ok(await users.createTestUser(`t-${id}`), 'create test user');
    ok(await users.create(`real-${id}`), 'create');
    ok(await users.deleteAllTestUsers(), 'delete all test users');
    fails(await users.load(`t-${id}`), 'load of a deleted test user', 'E112102', 400);
    ok(await users.load(`real-${id}`), 'a real user stays');
  });
});
