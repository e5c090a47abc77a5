/**
 * The per-user registry of open calls: one object per principal (see routing.ts) that caps how
 * many calls a user records at once. A call claims its place when it first starts and releases it
 * once finalized, whatever ended it (stop, idle alarm, maximum duration). One object per user
 * makes the count exact without a D1 table, and a user's calls never contend with anyone else's.
 */

export class CallRegistry {
  private ready = false;

  constructor(private readonly sql: SqlStorage) {}

  private ensure(): void {
    if (this.ready) return;
    this.sql.exec('create table if not exists open_calls (call_id text primary key, since_ms integer not null)');
    this.ready = true;
  }

  /**
   * True when `callId` holds (or now takes) one of the user's `limit` places. A claim older than
   * `staleAfterMs` belongs to a call that cannot still be open (its alarm ends it at the maximum
   * duration): it is dropped, so a call object lost before it released its place blocks nothing
   * for long.
   */
  claim(callId: string, limit: number, nowMs: number, staleAfterMs: number): boolean {
    this.ensure();
    this.sql.exec('delete from open_calls where since_ms < ?', nowMs - staleAfterMs);
    if (this.sql.exec('select 1 from open_calls where call_id = ?', callId).toArray().length > 0) return true;
    const open = Number(this.sql.exec('select count(*) as n from open_calls').one().n);
    if (open >= limit) return false;
    this.sql.exec('insert into open_calls (call_id, since_ms) values (?, ?)', callId, nowMs);
    return true;
  }

  release(callId: string): void {
    this.ensure();
    this.sql.exec('delete from open_calls where call_id = ?', callId);
  }
}
