// Management of tenants as node-sdk 2.13.0 calls it (lib/management/tenant.ts).
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { claimsOf, ctest, fails, nodeSdk, ok, unique } from '../lib/harness.mjs';

const sdk = nodeSdk();
const tenants = sdk.management.tenant;

describe('management: tenants', () => {
  ctest('create, create with ID, load, load all, search, update, delete', async () => {
    const id = unique();
    const created = ok(await tenants.create(`Acme ${id}`, [`acme-${id}.example.com`], { tier: 'gold' }), 'create');
    assert.match(created.id, /\S/, 'create answers the generated ID');
    ok(await tenants.createWithId(`t-${id}`, `Beta ${id}`), 'create with ID');
    fails(await tenants.createWithId(`t-${id}`, `Beta again ${id}`), 'create with a taken ID', 'E011003', 400);

    const acme = ok(await tenants.load(created.id), 'load');
    assert.equal(acme.id, created.id);
    assert.equal(acme.name, `Acme ${id}`);
    assert.deepEqual(acme.selfProvisioningDomains, [`acme-${id}.example.com`]);
    assert.deepEqual(acme.customAttributes, { tier: 'gold' });

    const all = ok(await tenants.loadAll(), 'load all');
    assert.ok(all.some((t) => t.id === `t-${id}`), 'load all lists the tenant made with an ID');

    const found = ok(await tenants.searchAll([created.id, `t-${id}`]), 'search by IDs');
    assert.deepEqual(found.map((t) => t.id).sort(), [created.id, `t-${id}`].sort());
    const byName = ok(await tenants.searchAll(undefined, [`Beta ${id}`]), 'search by name');
    assert.deepEqual(byName.map((t) => t.id), [`t-${id}`]);

    ok(await tenants.update(`t-${id}`, `Beta renamed ${id}`), 'update');
    assert.equal(ok(await tenants.load(`t-${id}`), 'load after update').name, `Beta renamed ${id}`);

    ok(await tenants.delete(`t-${id}`), 'delete');
    const gone = await tenants.load(`t-${id}`);
    assert.equal(gone.ok, false, 'a deleted tenant does not load');
  });

  ctest('session settings apply to the tokens of the tenant\'s members', async () => {
    const id = unique();
    const tenantId = ok(await tenants.create(`Short ${id}`), 'create').id;
    ok(await tenants.configureSettings(tenantId, {
      enabled: true,
      sessionTokenExpiration: 5, sessionTokenExpirationUnit: 'minutes',
      refreshTokenExpiration: 2, refreshTokenExpirationUnit: 'hours',
    }), 'configure settings');
    const settings = ok(await tenants.getSettings(tenantId), 'get settings');
    assert.equal(settings.enabled, true);
    assert.equal(settings.sessionTokenExpiration, 5);
    assert.equal(settings.sessionTokenExpirationUnit, 'minutes');
    assert.equal(settings.refreshTokenExpiration, 2);

    fails(await tenants.configureSettings(tenantId, { enabled: true, sessionTokenExpiration: 2, sessionTokenExpirationUnit: 'minutes', refreshTokenExpiration: 1, refreshTokenExpirationUnit: 'hours' }),
      'a session under Descope\'s 3-minute minimum', 'E011003', 400);

    ok(await sdk.management.user.create(`member-${id}`, { userTenants: [{ tenantId, roleNames: [] }] }), 'create member');
    const jwt = ok(await sdk.management.jwt.signIn(`member-${id}`), 'sign in');
    const s = claimsOf(jwt.sessionJwt);
    const r = claimsOf(jwt.refreshJwt);
    assert.equal(s.exp - s.iat, 300, 'the session lasts the tenant\'s 5 minutes');
    assert.equal(r.exp - r.iat, 7200, 'the refresh token lasts the tenant\'s 2 hours');
    assert.ok(s.tenants?.[tenantId], 'the session names the tenant');
  });
});
