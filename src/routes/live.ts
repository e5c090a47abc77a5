/**
 * Live recording: WebSocket upgrades. A plain-protocol client that names its call at the upgrade
 * (`?callId=`) is handed straight to that call's object; otherwise the socket goes to a fresh
 * connection object (src/live/routing.ts). The plain protocol authenticates here, at the
 * upgrade; Socket.IO here when the upgrade carries a token, otherwise on the namespace connect
 * (`auth: { token }`), which is where the standard client sends it.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { credentialsExpireAt, hasCredentials } from '../auth/authenticate';
import { authenticateRequest, clientAddress, requestCredentials } from '../auth/middleware';
import type { AppContext } from '../context';
import { CONNECTION_HEADER, QUEUE_LIMITS, type ConnectionRequest } from '../live/connection';
import { LIVE_LIMITS } from '../live/protocol';
import { CALL_SOCKET_HEADER, type CallSocketRequest } from '../live/call-sockets';
import { CallId, describeIssue } from '../live/protocol';
import { callStub, newConnectionStub } from '../live/routing';
import { AppError } from '../errors';
import { rateLimit } from '../auth/rate-limit';
import { createRouter } from './router';
import { errorResponses } from './schemas';

export const liveRoutes = createRouter();

const isUpgrade = (c: AppContext) => c.req.header('upgrade')?.toLowerCase() === 'websocket';

/** 426 in the contract's error shape (the error type has no code of its own for it). */
function upgradeRequired(): Response {
  return Response.json(
    { error: { code: 'invalid_request', message: 'This endpoint speaks WebSocket only: send Upgrade: websocket' } },
    { status: 426, headers: { upgrade: 'websocket' } },
  );
}

/** When the credentials that authenticated this upgrade expire (null for an API key). */
const expiresAt = (c: AppContext) => credentialsExpireAt(requestCredentials(c, { allowQueryToken: true }), c.get('config'));

/** A fresh connection object takes the socket; the details travel in a header built here, never copied from the client. */
async function openConnection(c: AppContext, request: ConnectionRequest): Promise<Response> {
  const response = await newConnectionStub(c.env).fetch('https://live-connection.internal/', {
    headers: { upgrade: 'websocket', [CONNECTION_HEADER]: JSON.stringify(request) },
  });
  return switched(response, 'connection');
}

/** The call's own object takes the socket: one hop per frame. */
async function openCallSocket(c: AppContext, request: CallSocketRequest): Promise<Response> {
  const response = await callStub(c.env, request.principal.id, request.callId).fetch('https://live-call.internal/', {
    headers: { upgrade: 'websocket', [CALL_SOCKET_HEADER]: JSON.stringify(request) },
  });
  return switched(response, 'call');
}

function switched(response: Response, object: string): Response {
  if (response.status !== 101 || !response.webSocket) throw new Error(`the ${object} object answered ${response.status}`);
  return new Response(null, { status: 101, webSocket: response.webSocket });
}

const frames = `Error frames carry a code: invalid_request (garbage or a bad field), unauthorized (also when the token expires: the socket is then closed
with 1008), forbidden (auditors may not start), consent_required, not_started, wrong_call, sequence_out_of_window (more than
${LIVE_LIMITS.sequenceWindow} ahead), payload_too_large (a chunk over ${LIVE_LIMITS.maxChunkBytes} bytes), rate_limited (more than
${QUEUE_LIMITS.commandsPerCall} commands or ${QUEUE_LIMITS.bytes / 1048576} MiB waiting: the chunk is not stored, send it again), unsupported_media_type
(the call's first bytes are not the declared format: the call ends, nothing is kept), too_many_calls (over ${LIVE_LIMITS.maxCallsPerUser} open calls
per user), call_finished, service_unavailable. A chunk is acked once durable (stored sealed); a repeated sequence is acked with duplicate: true, a
chunk sent while paused with dropped: true (it is not stored). From started on, GET /recordings/{id} shows the call with status "recording".`;

liveRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/live',
    tags: ['live'],
    summary: 'Plain WebSocket live recording (token in Authorization or ?token=)',
    description: `Text frames are JSON: start {callId, format, callerPhone, receiverPhone} → started {recordingId, nextSequence}; pause → paused;
resume → resumed; stop → stopped {recordingId, size, pauses, gaps}. A binary frame is a chunk: a 4-byte big-endian sequence number, then audio;
it is answered by ack {sequence}. One call per connection at a time. Optional ?callId= names the call at the upgrade: the socket then goes
straight to the call's Durable Object (one hop per frame instead of two: faster acks under load); start must still be sent, with that callId
(another callId is refused with wrong_call), and the socket records only that call. Optional ?acks=binary (with ?callId=, an opt-in beyond
the contract): acks come as binary frames of one or more 5-byte records, a flag byte (0 stored, 1 duplicate: already had it, 2 dropped: sent
while paused) then the sequence (4 bytes, big-endian), in order; every other server frame stays JSON. ${frames}`,
    request: { query: z.object({ token: z.string().optional(), callId: z.string().optional(), acks: z.enum(['json', 'binary']).optional() }) },
    responses: { 101: { description: 'Switching protocols' }, ...errorResponses({ 401: 'No or bad token', 426: 'Not a WebSocket upgrade' }) },
  }),
  async (c) => {
    if (!isUpgrade(c)) return upgradeRequired() as never;
    const principal = await authenticateRequest(c, { allowQueryToken: true });
    const callId = c.req.query('callId');
    const acks = c.req.query('acks');
    if (acks !== undefined && acks !== 'json' && acks !== 'binary') throw new AppError('invalid_request', 'acks: must be json or binary');
    if (acks === 'binary' && callId === undefined) throw new AppError('invalid_request', 'acks: binary acks need ?callId= (the socket the call object holds)');
    if (callId !== undefined) {
      const parsed = CallId.safeParse(callId);
      if (!parsed.success) throw new AppError('invalid_request', describeIssue(parsed.error, 'callId'));
      const request: CallSocketRequest = { principal: { id: principal.id, role: principal.role }, expiresAtMs: expiresAt(c), callId: parsed.data, acks: acks ?? 'json' };
      return (await openCallSocket(c, request)) as never;
    }
    return (await openConnection(c, { protocol: 'plain', principal, expiresAtMs: expiresAt(c), requestId: c.get('requestId'), clientAddress: clientAddress(c) })) as never;
  },
);

/** Mounted at the root: `/socket.io/` is where the standard Socket.IO client connects by default. */
export const socketIoRoutes = createRouter();
socketIoRoutes.use('/socket.io/*', rateLimit);

socketIoRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/socket.io/',
    tags: ['live'],
    summary: 'Socket.IO v4 live recording (transports: ["websocket"], auth: { token })',
    description: `Engine.IO 4 over WebSocket, namespace "/". Client events recording:start {callId, format}, recording:chunk {callId, chunk, sequence},
recording:pause|resume|stop {callId}; server events recording:started|ack|paused|resumed|stopped|error, each with callId. Acknowledgement
callbacks receive the same payload plus ok: true|false. A socket that fails 3 namespace connects is closed. ${frames}`,
    request: { query: z.object({ EIO: z.string().optional(), transport: z.string().optional(), token: z.string().optional() }) },
    responses: { 101: { description: 'Switching protocols' }, ...errorResponses({ 400: 'Not Engine.IO 4 over websocket', 401: 'Bad token in the upgrade', 426: 'Not a WebSocket upgrade' }) },
  }),
  async (c) => {
    if (c.req.query('EIO') !== '4' || c.req.query('transport') !== 'websocket') {
      return Response.json({ error: { code: 'invalid_request', message: 'Only Engine.IO 4 over the websocket transport is served: use transports: ["websocket"]' } }, { status: 400 }) as never;
    }
    if (!isUpgrade(c)) return upgradeRequired() as never;
    const principal = hasCredentials(requestCredentials(c, { allowQueryToken: true })) ? await authenticateRequest(c, { allowQueryToken: true }) : null;
    return (await openConnection(c, { protocol: 'socketio', principal, expiresAtMs: principal ? expiresAt(c) : null, requestId: c.get('requestId'), clientAddress: clientAddress(c) })) as never;
  },
);
