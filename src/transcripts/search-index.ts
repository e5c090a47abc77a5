/**
 * Searching transcripts that are stored sealed. Each distinct word of a transcript is indexed as a
 * keyed hash: HMAC-SHA-256 under a key derived from MASTER_ENCRYPTION_KEY ("transcript-search"),
 * truncated to 128 bits. A query's words are hashed the same way and matched exactly, so D1 never
 * holds a word in clear. What the index still shows to someone who reads D1 without the master
 * key: which recordings share a word, and how often each (unknown) word occurs.
 */
import { deriveHmacKey, hmacHex } from '../crypto/derive';
import { AppError } from '../errors';

/** Longer "words" are not words (base64, URLs); they are not indexed. */
const MAX_WORD_LENGTH = 64;
/** Distinct words indexed per transcript: bounds a row's index whatever a service PUTs. */
export const MAX_INDEXED_WORDS = 20_000;
/** Words in one query (each is a bound parameter of the search). */
const MAX_QUERY_WORDS = 10;

/**
 * Lower-case words of letters and digits (any script, NFKC-normalized, apostrophes inside a word
 * kept: "o'clock"), each once, in order of first appearance.
 */
export function wordsOf(text: string): string[] {
  const seen = new Set<string>();
  for (const match of text.normalize('NFKC').toLowerCase().matchAll(/[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu)) {
    const word = match[0].replace(/’/g, "'");
    if (word.length <= MAX_WORD_LENGTH) seen.add(word);
  }
  return [...seen];
}

/** The index tokens of `words` (32 hex characters each). */
export async function termTokens(masterKey: string, words: string[]): Promise<string[]> {
  const key = await deriveHmacKey(masterKey, 'transcript-search');
  return Promise.all(words.map(async (word) => (await hmacHex(key, word)).slice(0, 32)));
}

/** The tokens `?q=` looks for: every word must be in the transcript. 400 for a query without a word. */
export async function queryTokens(masterKey: string, query: string): Promise<string[]> {
  const words = wordsOf(query);
  if (words.length === 0) throw new AppError('invalid_request', 'q: must contain at least one word');
  if (words.length > MAX_QUERY_WORDS) throw new AppError('invalid_request', `q: at most ${MAX_QUERY_WORDS} words`);
  return termTokens(masterKey, words);
}
