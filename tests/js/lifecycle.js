/*
 * Drives the emulator through a whole Coviu session lifecycle with the vendor's own API
 * layer, `coviu-sdk-api`, unchanged. The steps are those of the vendor's SDK test suite,
 * in the same order, with debug mode on (request bodies and queries are shape-checked
 * before they are sent). The vendor's HTTP and OAuth layers are not on npm, so
 * ./service.js stands in for them (see the comment at its top).
 *
 * Times are relative to the emulator's clock (GET {origin}/_emulator/clock), never to
 * the wall clock, so the run does not depend on when it happens.
 *
 * Environment: COVIU_API_URL (e.g. http://127.0.0.1:PORT/v1), COVIU_API_KEY,
 * COVIU_API_SECRET. Prints one line per step; exits 0 when every step passes, 1 with a
 * message at the first failure, 2 when the environment is incomplete.
 *
 * Run: node tests/js/lifecycle.js
 */
'use strict';

const assert = require('assert');
const shapeful = require('shapeful');
const coviuApi = require('coviu-sdk-api');
const { createService } = require('./service');

function fromEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`lifecycle.js: ${name} must be set in the environment`);
    process.exit(2);
  }
  return value;
}

const endpoint = fromEnv('COVIU_API_URL').replace(/\/+$/, '');
const apiKey = fromEnv('COVIU_API_KEY');
const keySecret = fromEnv('COVIU_API_SECRET');
const origin = new URL(endpoint).origin;

// The client's clock (it only decides when to refresh the token). The last extra step
// moves it forward instead of waiting.
let clientClockOffsetMs = 0;
const answers = []; // every answer the SDK received: {method, url, status, contentType}

const { service, auth } = createService({
  endpoint,
  apiKey,
  keySecret,
  debug: true,
  now: () => Date.now() + clientClockOffsetMs,
  observe: (answer) => answers.push(answer),
});
const coviu = coviuApi(service);

/** The emulator's current time. */
async function serverNow() {
  const response = await fetch(origin + '/_emulator/clock', {
    signal: AbortSignal.timeout(15000),
  });
  assert.strictEqual(response.status, 200, `GET /_emulator/clock answered ${response.status}`);
  const now = new Date((await response.json()).now);
  assert(!Number.isNaN(now.getTime()), 'the emulator clock is not an ISO time');
  return now;
}

function relativeTo(base, ms) {
  return new Date(base.getTime() + ms);
}

function roles(participants, role) {
  return participants.filter((p) => p.role === role).length;
}

/** Add a participant with the given role, as the vendor's test does; check the answer. */
async function addParticipant(role, expectedRole) {
  const example = {
    display_name: 'Dr. Who',
    role,
    picture: 'http://fillmurray.com/200/300',
    state: 'test-state',
  };
  const result = await coviu.sessions.addParticipant(session.session_id, example).run();
  assert(result, 'no participant');
  assert(result.participant_id, 'no participant_id');
  assert(result.entry_url, 'no entry_url');
  assert.strictEqual(result.role, expectedRole);
  return result;
}

/** Every 2xx the SDK has seen so far carried Content-Type: application/json. */
function assertJsonContentTypes() {
  for (const a of answers) {
    if (a.status < 200 || a.status >= 300) continue;
    const mediaType = (a.contentType || '').split(';')[0].trim().toLowerCase();
    assert.strictEqual(
      mediaType,
      'application/json',
      `${a.method} ${a.url} answered ${a.status} with Content-Type ${a.contentType}`
    );
  }
}

// State carried from step to step, as in the vendor's test.
let session;
let host;
let guest;

const steps = [
  [
    'log in with client credentials; the access token is a JWT with a userId claim',
    async () => {
      await auth.token();
      const userId = await auth.userId();
      assert(userId, 'no userId in the access token');
      assert.deepStrictEqual(auth.grants, ['client_credentials']);
    },
  ],
  [
    'get a page of sessions: {content: array, page: number, page_size: number, more: boolean}',
    async () => {
      const page = await coviu.sessions.getSessions({}).run();
      assert(page, 'no page');
      assert(
        shapeful(page, { content: 'array', page: 'number', page_size: 'number', more: 'boolean' }),
        `unexpected page shape: ${JSON.stringify(page)}`
      );
    },
  ],
  [
    'create a session starting 10 s from the server clock: team_id, client_id, session_id',
    async () => {
      const now = await serverNow();
      const example = {
        session_name: 'A test session with Dr. Who',
        start_time: relativeTo(now, 10 * 1000).toUTCString(),
        end_time: relativeTo(now, 20 * 60 * 1000).toUTCString(),
        picture: 'http://www.fillmurray.com/200/300',
      };
      const result = await coviu.sessions.createSession(example).run();
      assert(result, 'no session');
      assert(result.team_id, 'no team_id');
      assert(result.client_id, 'no client_id');
      assert(result.session_id, 'no session_id');
      session = result;
    },
  ],
  [
    'add a host participant: role HOST, participant_id, entry_url',
    async () => {
      host = await addParticipant('host', 'HOST');
    },
  ],
  [
    'add a guest participant: role GUEST',
    async () => {
      guest = await addParticipant('guest', 'GUEST');
    },
  ],
  [
    'get the session: two participants, one HOST and one GUEST',
    async () => {
      const result = await coviu.sessions.getSession(session.session_id).run();
      assert.strictEqual(result.session_id, session.session_id);
      assert.strictEqual(result.participants.length, 2);
      assert.strictEqual(roles(result.participants, 'HOST'), 1);
      assert.strictEqual(roles(result.participants, 'GUEST'), 1);
    },
  ],
  [
    'update the guest to {role: HOST, display_name: New Display Name}: echoed',
    async () => {
      const update = { role: 'HOST', display_name: 'New Display Name' };
      const result = await coviu.sessions.updateParticipant(guest.participant_id, update).run();
      assert(result, 'no participant');
      assert.strictEqual(result.role, update.role);
      assert.strictEqual(result.display_name, update.display_name);
    },
  ],
  [
    'update the session with toUTCString() times (+10 h, +20 h), an unknown field and a picture',
    async () => {
      const now = await serverNow();
      const update = {
        start_time: relativeTo(now, 10 * 60 * 60 * 1000).toUTCString(),
        end_time: relativeTo(now, 20 * 60 * 60 * 1000).toUTCString(),
        display_name: 'example', // not a session field: must be ignored
        picture: 'example',
      };
      const result = await coviu.sessions.updateSession(session.session_id, update).run();
      assert(result, 'no session');
      assert.strictEqual(result.start_time, update.start_time);
      assert.strictEqual(result.end_time, update.end_time);
      assert.strictEqual(roles(result.participants, 'HOST'), 2);
    },
  ],
  [
    'get the participants of the session: an array of 2',
    async () => {
      const result = await coviu.sessions.getSessionParticipants(session.session_id).run();
      assert(Array.isArray(result), `not an array: ${JSON.stringify(result)}`);
      assert.strictEqual(result.length, 2);
    },
  ],
  [
    'get the host participant by id: matching participant_id and session_id',
    async () => {
      const result = await coviu.sessions.getParticipant(host.participant_id).run();
      assert.strictEqual(result.participant_id, host.participant_id);
      assert.strictEqual(result.session_id, session.session_id);
    },
  ],
  [
    'delete the guest: the session then has 1 participant',
    async () => {
      const deleted = await coviu.sessions.deleteParticipant(guest.participant_id).run();
      assert.deepStrictEqual(deleted, { ok: true });
      const result = await coviu.sessions.getSession(session.session_id).run();
      assert.strictEqual(result.participants.length, 1);
    },
  ],
  [
    'get the session with {deleted_participants: true}: 2 participants',
    async () => {
      const result = await coviu.sessions
        .getSession(session.session_id)
        .query({ deleted_participants: true })
        .run();
      assert.strictEqual(result.participants.length, 2);
    },
  ],
  [
    'delete the session: a following getSession fails with 401',
    async () => {
      const deleted = await coviu.sessions.deleteSession(session.session_id).run();
      assert.deepStrictEqual(deleted, { ok: true });
      await assert.rejects(coviu.sessions.getSession(session.session_id).run(), (error) => {
        assert.strictEqual(error.statusCode, 401, `expected 401, got: ${error.message}`);
        return true;
      });
    },
  ],
  [
    'get sessions with {include_canceled: true}: content.length >= 1, the cancelled one included',
    async () => {
      const page = await coviu.sessions.getSessions({ include_canceled: true }).run();
      assert(page.content.length >= 1, `empty page: ${JSON.stringify(page)}`);
      assert(
        page.content.some((s) => s.session_id === session.session_id),
        'the cancelled session is not listed'
      );
    },
  ],
  // Beyond the vendor's test: the proactive refresh its OAuth layer performs.
  [
    'past half of expires_in the next call refreshes the token (grant_type=refresh_token)',
    async () => {
      clientClockOffsetMs += 24 * 60 * 60 * 1000;
      const page = await coviu.sessions.getSessions({}).run();
      assert(Array.isArray(page.content), 'no page after the refresh');
      assert.deepStrictEqual(auth.grants, ['client_credentials', 'refresh_token']);
      await coviu.sessions.getSessions({}).run();
      assert.deepStrictEqual(auth.grants, ['client_credentials', 'refresh_token']);
    },
  ],
  [
    'every 2xx answer carried Content-Type: application/json',
    async () => {
      assertJsonContentTypes();
      assert(answers.length > 0, 'no answers were observed');
    },
  ],
];

async function main() {
  console.log(`coviu-sdk-api lifecycle against ${endpoint}`);
  for (const [index, [name, step]] of steps.entries()) {
    const label = `${index + 1} - ${name}`;
    try {
      await step();
      assertJsonContentTypes();
    } catch (error) {
      console.log(`not ok ${label}`);
      console.error(`FAILED at step ${index + 1}: ${name}`);
      console.error(error && error.stack ? error.stack : error);
      if (error && error.statusCode !== undefined) {
        console.error(`HTTP ${error.statusCode}: ${JSON.stringify(error.body)}`);
      }
      process.exitCode = 1;
      return;
    }
    console.log(`ok ${label}`);
  }
  console.log(`all ${steps.length} steps passed (${answers.length} HTTP answers)`);
}

main().catch((error) => {
  console.error('lifecycle.js crashed:', error);
  process.exitCode = 1;
});
