// CORS as a browser checks it for web-js-sdk 1.53.0, which calls the
// authentication API from the page with credentials: "include".
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ctest, extraOrigin, http, nodeSdk, ok, projectId, unique } from '../lib/harness.mjs';

// The headers web-js-sdk sends on every call (core-js-sdk
// createDescopeHeaders, withAnalytics, withPersistTokens).
const sdkHeaders = 'authorization,content-type,x-descope-sdk-name,x-descope-sdk-version,x-descope-sdk-session-id,x-descope-project-id,x-descope-refresh-cookie-name';

const preflight = (path, origin, method = 'POST') =>
  http('OPTIONS', path, { headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': sdkHeaders } });

describe('CORS', () => {
  ctest('loopback origins and configured ones pass the preflight, with credentials', async () => {
    const origins = ['http://localhost:5173', 'http://127.0.0.1:8080', 'https://localhost', 'http://[::1]:3000'];
    if (extraOrigin) origins.push(extraOrigin);
    for (const origin of origins) {
      for (const path of ['/v1/auth/refresh', '/v1/auth/otp/signin/email', '/v1/auth/me']) {
        const res = await preflight(path, origin, path === '/v1/auth/me' ? 'GET' : 'POST');
        assert.equal(res.status, 204, `preflight of ${path} from ${origin}`);
        assert.equal(res.headers.get('access-control-allow-origin'), origin);
        assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
        const allowed = (res.headers.get('access-control-allow-headers') || '').split(/,\s*/);
        for (const h of sdkHeaders.split(',')) assert.ok(allowed.includes(h), `${origin}: header ${h} allowed (got ${allowed})`);
      }
    }
  });

  ctest('other origins, and management calls, get no CORS answer', async () => {
    for (const origin of ['https://evil.example', 'http://localhost.evil.example', 'null']) {
      const res = await preflight('/v1/auth/refresh', origin);
      assert.equal(res.status, 403, `preflight from ${origin}`);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    }
    const mgmt = await preflight('/v1/mgmt/user/create', 'http://localhost:5173');
    assert.notEqual(mgmt.status, 204);
    assert.equal(mgmt.headers.get('access-control-allow-origin'), null, 'management calls carry the management key and are not for pages');
  });

  ctest('answers to a page, errors included, name its origin', async () => {
    const login = `cors-${unique()}`;
    const jwt = ok(await nodeSdk().management.jwt.signUpOrIn(login), 'sign in');
    const origin = 'http://localhost:5173';
    const good = await http('POST', '/v1/auth/refresh', { headers: { Origin: origin, Authorization: `Bearer ${projectId}:${jwt.refreshJwt}` }, body: {} });
    assert.equal(good.status, 200);
    assert.equal(good.headers.get('access-control-allow-origin'), origin);
    assert.equal(good.headers.get('access-control-allow-credentials'), 'true');
    const bad = await http('POST', '/v1/auth/refresh', { headers: { Origin: origin, Authorization: `Bearer ${projectId}` }, body: {} });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get('access-control-allow-origin'), origin, 'a page reads the error too');
  });
});
