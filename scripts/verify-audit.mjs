/**
 * Verify an audit export with only the checkpoint public key, no service needed:
 *   node scripts/verify-audit.mjs --public-key audit-key.json audit-export.ndjson
 * The export is what `GET /api/v1/audit/export` streams; the key is the JWK set from
 * `GET /api/v1/audit/public-key` (or one JWK), obtained apart from the export; each checkpoint is
 * checked with the key of that set its `kid` names (a retired key, after a rotation). Prints the result
 * as JSON (the shape of `GET /api/v1/audit/verify`) and exits 0 when it is ok, 1 when not, 2 on
 * bad usage. Runs the service's own verifier (src/compliance/audit-verifier.ts) under Node ≥ 22.18.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { verifyLedger } from '../src/compliance/audit-verifier.ts';

const EXPORT_FORMAT = 'call-recorder-audit-export/1';

function usage(message) {
  console.error(`${message}\nusage: node scripts/verify-audit.mjs --public-key <jwk-or-jwks.json> <export.ndjson>`);
  process.exit(2);
}

const args = process.argv.slice(2);
const keyAt = args.indexOf('--public-key');
if (keyAt === -1 || !args[keyAt + 1]) usage('missing --public-key');
const keyFile = args[keyAt + 1];
const exportFile = args.filter((_, i) => i !== keyAt && i !== keyAt + 1)[0];
if (!exportFile) usage('missing the export file');

const keyJson = JSON.parse(readFileSync(keyFile, 'utf8'));
const publicKeys = (Array.isArray(keyJson.keys) ? keyJson.keys : [keyJson]).filter((k) => k && k.kty === 'OKP' && k.crv === 'Ed25519');
if (publicKeys.length === 0) usage(`${keyFile} holds no Ed25519 public key`);

/** The export's lines, one at a time, with one line of look-ahead. */
const lines = createInterface({ input: createReadStream(exportFile, 'utf8'), crlfDelay: Infinity })[Symbol.asyncIterator]();
let peeked = null;
async function peek() {
  while (!peeked) {
    const next = await lines.next();
    if (next.done) return null;
    if (next.value.trim() !== '') peeked = JSON.parse(next.value);
  }
  return peeked;
}
async function take() {
  const line = await peek();
  peeked = null;
  return line;
}

const header = await take();
if (!header || header.type !== 'header' || header.format !== EXPORT_FORMAT) usage(`${exportFile} is not an audit export (${EXPORT_FORMAT})`);
if (header.publicKey?.x && !publicKeys.some((k) => k.x === header.publicKey.x)) console.error('note: the export names another public key than the ones given; only the given keys are trusted');

const checkpoints = [];
while ((await peek())?.type === 'checkpoint') {
  const line = await take();
  checkpoints.push({ key: line.key, jws: line.jws });
}

/** Events come shard by shard, in seq order: each shard reads on while the next line is still its own (pages of up to 1,000). */
async function* pages(shard) {
  for (;;) {
    const page = [];
    for (;;) {
      const line = await peek();
      if (!line || line.type !== 'event' || line.shard !== shard) break;
      const { type: _type, ...event } = await take();
      page.push(event);
      if (page.length === 1000) break;
    }
    if (page.length > 0) yield page;
    if (page.length < 1000) return;
  }
}

const result = await verifyLedger({ publicKeys, checkpoints, shards: header.shards, pages, fromSeq: () => header.fromSeq ?? 1, partial: header.partial === true });
const leftover = await peek();
if (leftover && result.ok) Object.assign(result, { ok: false, reason: 'sequence', firstBadId: leftover.id ?? null, shard: leftover.shard ?? null });
console.log(JSON.stringify(result, null, 2));
process.exit(result.ok ? 0 : 1);
