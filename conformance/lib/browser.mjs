// A minimal browser for web-js-sdk 1.53.0 in Node: window, localStorage
// and document.cookie, set before the SDK is loaded (it decides whether it
// runs in a browser when its module loads). Enough for its token
// persistence (withPersistTokens, withLoggedInIndicator,
// withLastLoggedInUser); the real browser is e2e's page test.

import { baseUrl, projectId, recordingFetch } from './harness.mjs';

class MemoryStorage {
  #items = new Map();
  get length() { return this.#items.size; }
  key(i) { return [...this.#items.keys()][i] ?? null; }
  getItem(k) { return this.#items.has(String(k)) ? this.#items.get(String(k)) : null; }
  setItem(k, v) { this.#items.set(String(k), String(v)); }
  removeItem(k) { this.#items.delete(String(k)); }
  clear() { this.#items.clear(); }
}

// A cookie jar with names and values only: js-cookie removes a cookie by
// writing it with an expiry in the past.
const jar = new Map();
const document = {
  get cookie() { return [...jar].map(([k, v]) => `${k}=${v}`).join('; '); },
  set cookie(line) {
    const [pair, ...attrs] = String(line).split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const expires = attrs.map((a) => a.trim()).find((a) => /^expires=/i.test(a));
    if (expires && new Date(expires.slice(8)) < new Date()) jar.delete(name);
    else jar.set(name, pair.slice(eq + 1));
  },
  visibilityState: 'visible',
  addEventListener() {},
};

export const localStorage = new MemoryStorage();
globalThis.window = globalThis;
globalThis.localStorage = localStorage;
globalThis.document = document;
globalThis.location = { hostname: 'localhost', protocol: 'http:', href: 'http://localhost/', origin: 'http://localhost' };

const { default: createWebSdk } = await import('@descope/web-js-sdk');

/** web-js-sdk as a page creates it, pointed at the emulator. */
export const webSdk = (config = {}) =>
  createWebSdk({ projectId, baseUrl, persistTokens: true, autoRefresh: false, fetch: recordingFetch, ...config });
