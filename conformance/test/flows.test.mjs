// Flows are not a public API and are not emulated: the emulator says so,
// naming the route, to the SDK and to a page on another origin.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { coreSdk, ctest, http, projectId } from '../lib/harness.mjs';

describe('flows', () => {
  ctest('/v1/flow/start and /next answer "not emulated" naming the route', async () => {
    const core = coreSdk();
    const started = await core.flow.start('sign-up-or-in');
    assert.equal(started.ok, false);
    assert.equal(started.code, 501);
    assert.match(started.error?.errorMessage ?? '', /POST \/v1\/flow\/start is not emulated/);
    assert.ok(started.error?.errorCode, 'a Descope error body');

    const next = await core.flow.next('execution-id', 'step-id', 'interaction-id');
    assert.equal(next.code, 501);
    assert.match(next.error?.errorMessage ?? '', /\/v1\/flow\/next is not emulated/);

    const fromPage = await http('POST', '/v1/flow/start', { headers: { Origin: 'http://localhost:5173', Authorization: `Bearer ${projectId}` }, body: {} });
    assert.equal(fromPage.status, 501);
    assert.equal(fromPage.headers.get('access-control-allow-origin'), 'http://localhost:5173', 'a page can read why');
  });
});
