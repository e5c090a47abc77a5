/**
 * Which LiveCall object does what. The one Durable Object class plays three parts, each in its
 * own objects:
 *  - a connection object per WebSocket (a unique id): holds the socket through hibernation and
 *    speaks its protocol. Both protocols name the call only in a message (plain `start`,
 *    Socket.IO events), after the upgrade, so the socket cannot be routed to its call; and one
 *    Socket.IO connection may carry several calls;
 *  - a call object per (owner, callId): the recording's durable state, reached over RPC, so a
 *    reconnect from any socket finds the same call;
 *  - a registry object per owner: the cap on concurrent calls.
 */
import type { LiveCall } from '../../durable-objects/live-call';

export type LiveNamespace = DurableObjectNamespace<LiveCall>;

export const liveNamespace = (env: { LIVE_CALL: DurableObjectNamespace }) => env.LIVE_CALL as unknown as LiveNamespace;

/** JSON keeps the parts apart whatever characters an owner id or call id holds. */
export const callObjectName = (owner: string, callId: string) => JSON.stringify(['call', owner, callId]);
export const registryObjectName = (owner: string) => JSON.stringify(['registry', owner]);

export function callStub(env: { LIVE_CALL: DurableObjectNamespace }, owner: string, callId: string): DurableObjectStub<LiveCall> {
  return liveNamespace(env).getByName(callObjectName(owner, callId));
}

export function registryStub(env: { LIVE_CALL: DurableObjectNamespace }, owner: string): DurableObjectStub<LiveCall> {
  return liveNamespace(env).getByName(registryObjectName(owner));
}

export function connectionStub(env: { LIVE_CALL: DurableObjectNamespace }, id: string): DurableObjectStub<LiveCall> {
  const namespace = liveNamespace(env);
  return namespace.get(namespace.idFromString(id));
}
