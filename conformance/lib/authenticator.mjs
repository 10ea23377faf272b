// A software WebAuthn authenticator for the conformance suite: what a
// browser and a platform authenticator hand to core-js-sdk's
// webauthn.*.finish, built from node:crypto. It makes ES256 (P-256) keys,
// attests them with the "none" format and signs assertions, in the JSON
// shape the web SDKs send (the PublicKeyCredential with its ArrayBuffers
// in base64url). descopetest/authenticator.go is its Go counterpart.
//
// References: W3C Web Authentication Level 2, §6.1 (authenticator data),
// §6.5.4 (attestation object), §5.8.1 (client data), §6.5.6 ("none"
// attestation); RFC 8152 §13.1.1 (COSE EC2 keys); RFC 8949 §4.2.1 and
// CTAP2 §8 (canonical CBOR).

import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

// ---- A minimal CBOR encoder: what an attestation object and a COSE key use.

/** The head of a CBOR item: major type and argument (RFC 8949 §3). */
function head(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

/**
 * cbor encodes integers, text strings, byte strings (Buffer or
 * Uint8Array) and maps (Map, or a plain object for text keys). Map keys are
 * sorted as CTAP2's canonical form wants: shorter encoded keys first, then
 * byte order.
 */
export function cbor(v) {
  if (typeof v === 'number' && Number.isInteger(v)) return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([head(3, b.length), b]);
  }
  if (v instanceof Uint8Array) return Buffer.concat([head(2, v.length), v]);
  const entries = v instanceof Map ? [...v] : Object.entries(v);
  const pairs = entries
    .map(([k, x]) => [cbor(k), cbor(x)])
    .sort(([a], [b]) => a.length - b.length || Buffer.compare(a, b));
  return Buffer.concat([head(5, pairs.length), ...pairs.flat()]);
}

// ---- The authenticator.

const b64u = (b) => Buffer.from(b).toString('base64url');
const sha256 = (b) => createHash('sha256').update(b).digest();

// Authenticator data flags (WebAuthn §6.1).
const UP = 0x01; // user present
const UV = 0x04; // user verified
const AT = 0x40; // attested credential data follows

/** The relying party of options: rp.id (create), rpId (get), else the origin's host. */
function rpIdOf(publicKey, origin) {
  return publicKey.rp?.id || publicKey.rpId || new URL(origin).hostname;
}

/** authenticatorData: rpIdHash ‖ flags ‖ signCount (big-endian) ‖ attested credential data. */
function authData(rpId, flags, signCount, attested = Buffer.alloc(0)) {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(signCount);
  return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, attested]);
}

/** clientDataJSON as a browser writes it for the ceremony type. */
const clientData = (type, challenge, origin) =>
  Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));

/** The COSE_Key of a P-256 public key: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y. */
function coseKey(publicKey) {
  const jwk = publicKey.export({ format: 'jwk' });
  return new Map([
    [1, 2],
    [3, -7],
    [-1, 1],
    [-2, Buffer.from(jwk.x, 'base64url')],
    [-3, Buffer.from(jwk.y, 'base64url')],
  ]);
}

/**
 * Authenticator holds the passkeys it created. create answers the options
 * of a *.start call (the JSON string core-js-sdk returns in `options`) as
 * navigator.credentials.create would; get answers sign-in options as
 * navigator.credentials.get would. Both return the JSON string that
 * webauthn.*.finish takes as `response`.
 */
export class Authenticator {
  constructor() {
    this.credentials = []; // {id, privateKey, rpId, userHandle, signCount}
  }

  create(options, origin) {
    const { publicKey } = JSON.parse(options);
    if (!publicKey.pubKeyCredParams?.some((p) => p.alg === -7)) throw new Error('the options do not offer ES256');
    const rpId = rpIdOf(publicKey, origin);
    const { privateKey, publicKey: pub } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = randomBytes(32);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    // Attested credential data: AAGUID (zeros with "none"), ID length, ID, key.
    const attested = Buffer.concat([Buffer.alloc(16), idLength, id, cbor(coseKey(pub))]);
    const data = authData(rpId, UP | UV | AT, 0, attested);
    const attestationObject = cbor({ fmt: 'none', attStmt: {}, authData: data });
    this.credentials.push({ id, privateKey, rpId, userHandle: Buffer.from(publicKey.user.id, 'base64url'), signCount: 0 });
    return JSON.stringify({
      id: b64u(id),
      rawId: b64u(id),
      type: 'public-key',
      response: {
        attestationObject: b64u(attestationObject),
        clientDataJSON: b64u(clientData('webauthn.create', publicKey.challenge, origin)),
      },
    });
  }

  get(options, origin) {
    const { publicKey } = JSON.parse(options);
    const rpId = rpIdOf(publicKey, origin);
    const allowed = (publicKey.allowCredentials || []).map((c) => c.id);
    const cred = this.credentials.find((c) => c.rpId === rpId && (allowed.length === 0 || allowed.includes(b64u(c.id))));
    if (!cred) throw new Error(`no passkey for ${rpId} among ${JSON.stringify(allowed)}`);
    cred.signCount += 1;
    const data = authData(rpId, UP | UV, cred.signCount);
    const client = clientData('webauthn.get', publicKey.challenge, origin);
    // ES256 over authenticatorData ‖ SHA-256(clientDataJSON), DER-encoded
    // (node's default dsaEncoding), as browsers pass it on.
    const signature = sign('sha256', Buffer.concat([data, sha256(client)]), cred.privateKey);
    return JSON.stringify({
      id: b64u(cred.id),
      rawId: b64u(cred.id),
      type: 'public-key',
      response: {
        authenticatorData: b64u(data),
        clientDataJSON: b64u(client),
        signature: b64u(signature),
        userHandle: b64u(cred.userHandle),
      },
    });
  }
}
