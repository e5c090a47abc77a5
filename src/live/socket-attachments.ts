/**
 * A hibernatable socket's own state: kept in its serialized attachment (which survives hibernation)
 * with an in-memory copy, so that each message does not deserialize it again.
 */
export class SocketAttachments<T> {
  private readonly cache = new Map<WebSocket, T>();

  /** The socket's state, read back from its attachment after the object woke from hibernation. */
  get(ws: WebSocket): T {
    let attachment = this.cache.get(ws);
    if (!attachment) {
      attachment = ws.deserializeAttachment() as T;
      this.cache.set(ws, attachment);
    }
    return attachment;
  }

  /** Replace the socket's state, in memory and in the attachment that outlives hibernation. */
  save(ws: WebSocket, attachment: T): void {
    this.cache.set(ws, attachment);
    ws.serializeAttachment(attachment);
  }

  /** Drop the in-memory copy of a closed socket. */
  forget(ws: WebSocket): void {
    this.cache.delete(ws);
  }
}
