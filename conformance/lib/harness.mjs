// The harness of the conformance suite: where the emulator is, clients of
// Descope's own SDKs pointed at it, and a test function whose failures show
// every HTTP exchange the test made, request and answer.
//
// The runner (conformance_test.go, or a person) starts descope-emulator and
// sets DESCOPE_BASE_URL, DESCOPE_PROJECT_ID and DESCOPE_MANAGEMENT_KEY;
// CONFORMANCE_EXTRA_ORIGIN is an origin the emulator was started to allow
// with -allowed-origin.

import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import createCoreSdk from '@descope/core-js-sdk';
import DescopeClient from '@descope/node-sdk';

function required(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the suite with "go test" in conformance/, or start descope-emulator and set DESCOPE_BASE_URL, DESCOPE_PROJECT_ID and DESCOPE_MANAGEMENT_KEY`);
  }
  return v;
}

export const baseUrl = required('DESCOPE_BASE_URL').replace(/\/$/, '');
export const projectId = required('DESCOPE_PROJECT_ID');
export const managementKey = required('DESCOPE_MANAGEMENT_KEY');
export const extraOrigin = process.env.CONFORMANCE_EXTRA_ORIGIN || '';

// The HTTP exchanges of the running test.
const transcript = new AsyncLocalStorage();

// Long tokens are shortened in transcripts: a JWT shows its start and end.
const shorten = (s) =>
  String(s).replace(/eyJ[\w-]{10,}\.[\w-]+\.[\w-]+/g, (jwt) => `${jwt.slice(0, 16)}…${jwt.slice(-6)}`);

const clip = (s, n = 2000) => (s.length > n ? `${s.slice(0, n)}… (${s.length} bytes)` : s);

function headerLines(headers) {
  const out = [];
  new Headers(headers || {}).forEach((v, k) => {
    if (k === 'authorization' || k === 'cookie' || k === 'origin' || k.startsWith('x-descope-refresh') || k.startsWith('access-control-')) {
      out.push(`${k}: ${shorten(v)}`);
    }
  });
  return out;
}

/**
 * fetch that records each exchange in the running test's transcript. Every
 * SDK client of the harness is given it (core-js-sdk and node-sdk take a
 * `fetch` option).
 */
export async function recordingFetch(url, init = {}) {
  const log = transcript.getStore();
  const res = await fetch(url, init);
  if (log) {
    const answer = await res.clone().text();
    const resHeaders = [];
    res.headers.forEach((v, k) => {
      if (k.startsWith('access-control-') || k === 'retry-after' || k === 'vary') resHeaders.push(`${k}: ${v}`);
    });
    log.push({
      request: [`${init.method || 'GET'} ${String(url).replace(baseUrl, '')}`, ...headerLines(init.headers), ...(init.body ? [clip(shorten(String(init.body)))] : [])],
      answer: [`${res.status} ${res.statusText}`, ...resHeaders, ...(answer ? [clip(shorten(answer))] : [])],
    });
  }
  return res;
}

function formatTranscript(log) {
  if (log.length === 0) return 'no HTTP exchange';
  return log
    .map((x, i) => [`#${i + 1} request:`, ...x.request.map((l) => `    ${l}`), `#${i + 1} answer:`, ...x.answer.map((l) => `    ${l}`)].join('\n'))
    .join('\n');
}

/**
 * ctest is node:test's test whose failure message carries every request the
 * test sent and the answer it got.
 */
export function ctest(name, fn) {
  return test(name, async (t) => {
    const log = [];
    try {
      await transcript.run(log, () => fn(t));
    } catch (err) {
      throw new Error(`${err?.message ?? err}\n\nHTTP exchanges of this test:\n${formatTranscript(log)}`, { cause: err });
    }
  });
}

/** A fresh suffix, so that tests running at once never share a user. */
export const unique = () => randomBytes(5).toString('hex');

/** node-sdk 2.13.0 with the management key. */
export const nodeSdk = (config = {}) =>
  DescopeClient({ projectId, managementKey, baseUrl, fetch: recordingFetch, ...config });

/** core-js-sdk 2.71.0, as the browser SDKs build on it. */
export const coreSdk = (config = {}) => createCoreSdk({ projectId, baseUrl, fetch: recordingFetch, ...config });

/**
 * A raw call to the emulator, recorded like the SDKs' calls. It answers
 * {status, headers, body}, body parsed when it is JSON.
 */
export async function http(method, path, { headers = {}, body } = {}) {
  const res = await recordingFetch(baseUrl + path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** The one-time code the emulator last "sent" to an address. */
export async function outbox(address) {
  const res = await http('GET', `/emulator/v1/outbox?address=${encodeURIComponent(address)}`);
  if (res.status !== 200 || !/^\d{6}$/.test(res.body?.code)) {
    throw new Error(`no one-time code for ${address}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body.code;
}

/** The claims of a JWT, not verified. */
export const claimsOf = (jwt) => JSON.parse(Buffer.from(String(jwt).split('.')[1], 'base64url').toString());

/**
 * ok returns the data of a successful SdkResponse ({ok, data, error, code}),
 * and throws with the answer otherwise.
 */
export function ok(res, what) {
  if (!res?.ok) {
    throw new Error(`${what}: want success, got ${res?.code} ${JSON.stringify(res?.error)}`);
  }
  return res.data;
}

/** fails throws unless res is a failure with the error code and status. */
export function fails(res, what, errorCode, status) {
  if (res?.ok || res?.error?.errorCode !== errorCode || (status && res?.code !== status)) {
    throw new Error(`${what}: want ${errorCode} (status ${status}), got ${res?.code} ${JSON.stringify(res?.error ?? res?.data)}`);
  }
}

/**
 * assertJWTResponse checks the fields of an authentication answer that
 * Descope's SDKs read (core-js-sdk JWTResponse; Descope's OpenAPI
 * JWTResponse) against the tokens. refresh is the refresh token the client
 * holds when the answer carries none.
 */
export function assertJWTResponse(data, what, refresh) {
  assert.equal(typeof data?.sessionJwt, 'string', `${what}: sessionJwt`);
  const s = claimsOf(data.sessionJwt);
  const r = claimsOf(data.refreshJwt || refresh);
  assert.equal(s.drn, 'DS', `${what}: the session token's drn`);
  assert.equal(r.drn, 'DSR', `${what}: the refresh token's drn`);
  assert.equal(data.sessionExpiration, s.exp, `${what}: sessionExpiration (web-js-sdk's sign-in signal) is the session token's exp`);
  assert.equal(data.cookieExpiration, r.exp, `${what}: cookieExpiration is the refresh token's exp`);
  assert.equal(data.cookieMaxAge, r.exp - s.iat, `${what}: cookieMaxAge is the refresh token's remaining seconds`);
  assert.equal(data.cookieName, 'DSR', `${what}: cookieName`);
  assert.equal(data.cookiePath, '/', `${what}: cookiePath`);
  assert.equal(typeof data.cookieDomain, 'string', `${what}: cookieDomain`);
  assert.equal(typeof data.firstSeen, 'boolean', `${what}: firstSeen`);
  assert.equal(data.claims?.sub, s.sub, `${what}: claims are the session token's`);
  assert.equal(data.claims?.exp, s.exp, `${what}: claims are the session token's`);
}
