/**
 * Why processing a recording stopped. A `PermanentFailure` is about the audio itself (ffprobe
 * cannot read it, the stored original fails its integrity check): retrying would give the same
 * answer, so the recording becomes `failed` at once. Anything else is transient and retried.
 * Messages are written for the recording's owner to read: no stack, no internal address, and
 * never the media processor's own words, which can quote what ffmpeg read; those are `detail`,
 * for the log.
 */
import { IntegrityError } from '../crypto/chunked';
import { AppError } from '../errors';
import { StorageUnavailable } from '../storage/blob-store';

interface FailureOptions extends ErrorOptions {
  /** What the media processor said, for the log only. */
  detail?: string;
}

export class PermanentFailure extends Error {
  override name = 'PermanentFailure';
  readonly detail: string | undefined;
  constructor(message: string, options?: FailureOptions) {
    super(message, options);
    this.detail = options?.detail;
  }
}

export class TransientFailure extends Error {
  override name = 'TransientFailure';
  readonly detail: string | undefined;
  constructor(message: string, options?: FailureOptions) {
    super(message, options);
    this.detail = options?.detail;
  }
}

/** The FFmpeg server's `{"error":{"code","message"}}` as one line for the log, or undefined when the body is something else. */
async function serverMessage(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    return typeof body.error?.message === 'string' ? `${String(body.error.code)}: ${body.error.message}`.slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A non-2xx answer of the FFmpeg server as a failure. 422 (unreadable audio), 413 (larger than
 * the server accepts) and 400 are about the input, 501 (an engine without speech recognition) is
 * about the server's build: permanent. 401 is a secret mismatch an
 * operator can fix, 5xx/504/499 are the server's trouble: transient.
 */
export async function failureFromResponse(response: Response): Promise<Error> {
  const detail = await serverMessage(response);
  switch (response.status) {
    case 422:
      return new PermanentFailure(UNREADABLE_AUDIO, { detail });
    case 413:
      return new PermanentFailure('The audio is too large to process', { detail });
    case 400:
      return new PermanentFailure('The media processor refused the audio', { detail });
    case 501:
      return new PermanentFailure('The media processor cannot transcribe (no speech recognition in its engine)', { detail });
    case 401:
      return new TransientFailure('the media processor refused our credentials', { detail });
    case 504:
      return new TransientFailure('the media processor timed out', { detail });
    default:
      return new TransientFailure(`the media processor answered ${response.status}`, { detail });
  }
}

/** The reason of a recording whose audio the media processor cannot read. */
export const UNREADABLE_AUDIO = 'The audio could not be read as WAV, Ogg, WebM, MP3, M4A or FLAC audio';

/** Errors from reading the stored original or its key: integrity and absence are permanent. */
export function classifyStorageError(error: unknown): Error {
  if (error instanceof PermanentFailure || error instanceof TransientFailure) return error;
  if (error instanceof IntegrityError) return new PermanentFailure('The stored original failed its integrity check', { cause: error });
  if (error instanceof AppError && (error.code === 'not_found' || error.code === 'conflict')) {
    return new PermanentFailure('The original audio is missing from storage', { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** A reason a user can read for a transient failure (the details go to the log). */
export function transientReason(error: unknown): string {
  if (error instanceof TransientFailure) return error.message;
  if (error instanceof StorageUnavailable) return 'storage was unavailable';
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'the media processor did not answer in time';
  return 'an unexpected error occurred';
}
