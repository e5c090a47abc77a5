/** The D1 database as drizzle sees it: the one handle every query in src/db/ takes. */
import { sql } from 'drizzle-orm';
import { drizzle, type DrizzleD1Database } from 'drizzle-orm/d1';
import * as schema from './schema';

/** `$client` is the D1 binding itself, for the few statements drizzle cannot batch (src/db/transcripts.ts). */
export type Database = DrizzleD1Database<typeof schema> & { $client: D1Database };

export const createDb = (d1: D1Database): Database => drizzle(d1, { schema });

/** The cheapest statement D1 answers: the health check's probe. */
export async function pingDatabase(db: Database): Promise<void> {
  await db.run(sql`select 1`);
}
