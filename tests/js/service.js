/*
 * A minimal request layer for the vendor's `coviu-sdk-api` package.
 *
 * Why this exists: `coviu-sdk-api` (on npm) only describes requests; it expects a
 * `service` from the vendor's HTTP layer (`coviu-sdk-http`) wrapped in its OAuth layer
 * (`coviu-sdk-oauth2`). Neither of those is published on npm, so this file reproduces
 * their documented behaviour — written from that description, not from their code — so
 * that the vendor's API layer can drive the emulator unchanged:
 *
 *  - requests are immutable builders: every DSL call returns a new builder, so the API
 *    layer can keep `service.get()` etc. as templates and extend them per call;
 *  - `path` sets the path, `subpath` appends to it as plain text, under a base URL that
 *    already ends in /v1;
 *  - the token comes from POST {base}/auth/token, HTTP Basic api_key:key_secret, form
 *    body grant_type=client_credentials; it is refreshed proactively at half of
 *    `expires_in` with grant_type=refresh_token&refresh_token=… (same Basic header);
 *  - the access token is decoded as a JWT WITHOUT checking its signature and its
 *    `userId` claim is read (missing: fail loudly, as the vendor's SDK would break);
 *  - every request carries `Authorization: Bearer <token>`;
 *  - a non-2xx answer rejects with {statusCode, body} (body JSON-parsed when possible);
 *  - a 2xx answer with a non-empty body goes through JSON.parse, so a plain-text 2xx
 *    body crashes, exactly as it crashes the vendor's SDK (deliberately not lenient);
 *  - with debug on, the body and query are checked against the API layer's shapes with
 *    `shapeful` before anything is sent (an absent body or query counts as `{}`);
 *  - query strings are built with Node's `querystring.encode` (booleans as true/false).
 *
 * Transport is Node 20's global fetch.
 */
'use strict';

const querystring = require('querystring');
const shapeful = require('shapeful');

const REQUEST_TIMEOUT_MS = 15000;

/** A non-2xx answer: what the vendor's layer rejects with. */
class HttpError extends Error {
  constructor(method, url, statusCode, body) {
    super(`${method.toUpperCase()} ${url} answered ${statusCode}: ${JSON.stringify(body)}`);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.body = body;
  }
}

/** A request the debug-mode shape check refused before sending it. */
class ShapeError extends Error {
  constructor(what, expected, received) {
    super(
      `request ${what} does not match its shape: expected ${JSON.stringify(expected)}, ` +
        `received ${JSON.stringify(received)}`
    );
    this.name = 'ShapeError';
  }
}

function parseMaybeJson(text) {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    return text;
  }
}

/**
 * Send one HTTP request and settle it the way the vendor's layer does. `observe`, if
 * given, sees every answer ({method, url, status, contentType}) so that a test can check
 * headers the SDK itself ignores.
 */
async function send({ method, url, headers, body, observe }) {
  const response = await fetch(url, {
    method: method === 'del' ? 'DELETE' : method.toUpperCase(),
    headers,
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (observe) {
    observe({
      method: method.toUpperCase(),
      url,
      status: response.status,
      contentType: response.headers.get('content-type'),
    });
  }
  if (response.status < 200 || response.status >= 300) {
    throw new HttpError(method, url, response.status, parseMaybeJson(text));
  }
  // Strict on purpose: a 2xx body that is not JSON throws here, as in the vendor's SDK.
  return text.length > 0 ? JSON.parse(text) : undefined;
}

/** Read a JWT's payload without verifying its signature. */
function decodeJwtPayload(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) {
    throw new Error(`the access token is not a JWT (header.payload.signature): ${token}`);
  }
  const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  if (payload === null || typeof payload !== 'object') {
    throw new Error('the access token payload is not a JSON object');
  }
  return payload;
}

/**
 * The OAuth part: obtains the client-credentials grant once, hands out a Bearer token,
 * and refreshes at half of `expires_in` (measured on `now()`, the client's clock).
 */
function createAuth({ endpoint, apiKey, keySecret, now, observe }) {
  const basic = 'Basic ' + Buffer.from(`${apiKey}:${keySecret}`).toString('base64');
  const grants = []; // every grant_type requested, in order (for tests)
  let current = null; // Promise of the current grant
  let refreshing = null; // Promise of an in-flight refresh, shared by concurrent callers

  async function requestGrant(form) {
    grants.push(form.grant_type);
    const grant = await send({
      method: 'post',
      url: endpoint + '/auth/token',
      headers: {
        Authorization: basic,
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/json',
      },
      body: querystring.encode(form),
      observe,
    });
    if (!grant || typeof grant.access_token !== 'string') {
      throw new Error(`the token endpoint answered without an access_token: ${JSON.stringify(grant)}`);
    }
    if (typeof grant.expires_in !== 'number') {
      throw new Error(`the token endpoint answered without a numeric expires_in: ${JSON.stringify(grant)}`);
    }
    const claims = decodeJwtPayload(grant.access_token);
    if (claims.userId === undefined || claims.userId === null) {
      throw new Error(
        `the access token has no userId claim (the vendor's SDK reads it): ${JSON.stringify(claims)}`
      );
    }
    return {
      accessToken: grant.access_token,
      refreshToken: grant.refresh_token,
      userId: claims.userId,
      nextRefresh: now() + (grant.expires_in / 2) * 1000,
    };
  }

  async function token() {
    if (current === null) {
      current = requestGrant({ grant_type: 'client_credentials' });
      current.catch(() => {
        current = null; // let a later call try again after a failed login
      });
    }
    const grant = await current;
    if (grant.nextRefresh > now()) return grant.accessToken;
    if (refreshing === null) {
      if (typeof grant.refreshToken !== 'string') {
        throw new Error('the token is due for refresh but the grant had no refresh_token');
      }
      refreshing = requestGrant({ grant_type: 'refresh_token', refresh_token: grant.refreshToken });
      refreshing.then(
        () => {
          current = refreshing;
          refreshing = null;
        },
        () => {
          refreshing = null;
        }
      );
    }
    return (await refreshing).accessToken;
  }

  async function userId() {
    await token();
    return (await current).userId;
  }

  return { token, userId, grants };
}

/**
 * Build the `service` that `require('coviu-sdk-api')(service)` expects.
 *
 * options: endpoint (base URL ending in /v1), apiKey, keySecret, debug (shape checks),
 * now (the client's clock in ms, default Date.now), observe (sees every answer).
 * Returns {service, auth}.
 */
function createService(options) {
  const endpoint = String(options.endpoint).replace(/\/+$/, '');
  const debug = Boolean(options.debug);
  const now = options.now || Date.now;
  const observe = options.observe;
  const auth = createAuth({
    endpoint,
    apiKey: options.apiKey,
    keySecret: options.keySecret,
    now,
    observe,
  });

  async function run(params) {
    if (debug) {
      if (params.bodyShape && !shapeful(params.body || {}, params.bodyShape)) {
        throw new ShapeError('body', params.bodyShape, params.body);
      }
      if (params.queryShape && !shapeful(params.query || {}, params.queryShape)) {
        throw new ShapeError('query', params.queryShape, params.query);
      }
    }
    let url = endpoint + params.path;
    if (params.query) {
      const qs = querystring.encode(params.query);
      if (qs.length > 0) url += '?' + qs;
    }
    const headers = { Authorization: 'Bearer ' + (await auth.token()) };
    let body;
    if (params.body !== undefined) {
      if (params.json) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(params.body);
      } else {
        body = typeof params.body === 'string' ? params.body : JSON.stringify(params.body);
      }
    }
    if (params.json) headers.Accept = 'application/json';
    return send({ method: params.method, url, headers, body, observe });
  }

  // An immutable builder: every call copies the parameters and returns a new builder.
  function builder(params) {
    const next = (changes) => builder(Object.freeze(Object.assign({}, params, changes)));
    return Object.freeze({
      get: () => next({ method: 'get' }),
      post: () => next({ method: 'post' }),
      put: () => next({ method: 'put' }),
      del: () => next({ method: 'del' }),
      json: (flag) => next({ json: Boolean(flag) }),
      path: (p) => next({ path: String(p) }),
      subpath: (p) => next({ path: params.path + String(p) }),
      query: (q) => next({ query: q }),
      queryShape: (shape) => next({ queryShape: shape }),
      body: (b) => next({ body: b }),
      bodyShape: (shape) => next({ bodyShape: shape }),
      run: () => run(params),
    });
  }

  const service = builder(Object.freeze({ method: 'get', path: '/', json: false }));
  return { service, auth };
}

module.exports = { createService, decodeJwtPayload, HttpError, ShapeError };
