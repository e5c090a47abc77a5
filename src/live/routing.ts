/**
 * Which Durable Object does what. Three classes, one role each (durable-objects/):
 *  - `LiveCall`, one object per (owner, callId): the recording's durable state. A plain-protocol
 *    client that names its call at the upgrade (`?callId=`) hands its socket straight to this
 *    object: one hop per frame. Otherwise the call is reached over RPC from a connection object;
 *  - `LiveConnection`, one object per WebSocket whose call is not known at the upgrade (plain
 *    without `?callId=`, where `start` names it later; Socket.IO, where one socket may carry
 *    several calls): holds the socket through hibernation and speaks its protocol;
 *  - `LiveRegistry`, one object per owner: the cap on concurrent calls.
 */
import type { CallEvent, LiveCommand } from './protocol';

// What each class answers over RPC: the classes implement these, so a stub is typed without this
// layer importing durable-objects/ (which imports it).

/** durable-objects/live-call.ts. `owner` is a CallOwner (src/live/call-recorder.ts). */
export interface LiveCallRpc extends Rpc.DurableObjectBranded {
  liveCommands(owner: { id: string; role: string }, connection: string, commands: LiveCommand[]): Promise<CallEvent[][]>;
}

/** durable-objects/live-connection.ts */
export interface LiveConnectionRpc extends Rpc.DurableObjectBranded {
  deliver(events: CallEvent[]): void;
}

/** durable-objects/live-registry.ts */
export interface LiveRegistryRpc extends Rpc.DurableObjectBranded {
  claimCall(callId: string, limit: number, nowMs: number, staleAfterMs: number): boolean;
  releaseCall(callId: string): void;
}

interface LiveBindings {
  LIVE_CALL: DurableObjectNamespace;
  LIVE_CONNECTION: DurableObjectNamespace;
  LIVE_REGISTRY: DurableObjectNamespace;
}

/** JSON keeps the parts apart whatever characters an owner id or call id holds. */
export const callObjectName = (owner: string, callId: string) => JSON.stringify(['call', owner, callId]);
export const registryObjectName = (owner: string) => JSON.stringify(['registry', owner]);

export function callStub(env: Pick<LiveBindings, 'LIVE_CALL'>, owner: string, callId: string): DurableObjectStub<LiveCallRpc> {
  return (env.LIVE_CALL as unknown as DurableObjectNamespace<LiveCallRpc>).getByName(callObjectName(owner, callId));
}

export function registryStub(env: Pick<LiveBindings, 'LIVE_REGISTRY'>, owner: string): DurableObjectStub<LiveRegistryRpc> {
  return (env.LIVE_REGISTRY as unknown as DurableObjectNamespace<LiveRegistryRpc>).getByName(registryObjectName(owner));
}

export function connectionStub(env: Pick<LiveBindings, 'LIVE_CONNECTION'>, id: string): DurableObjectStub<LiveConnectionRpc> {
  const namespace = env.LIVE_CONNECTION as unknown as DurableObjectNamespace<LiveConnectionRpc>;
  return namespace.get(namespace.idFromString(id));
}

/** A fresh connection object, for a socket whose call is named only later. */
export function newConnectionStub(env: Pick<LiveBindings, 'LIVE_CONNECTION'>): DurableObjectStub<LiveConnectionRpc> {
  const namespace = env.LIVE_CONNECTION as unknown as DurableObjectNamespace<LiveConnectionRpc>;
  return namespace.get(namespace.newUniqueId());
}
