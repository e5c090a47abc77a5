/**
 * The API client: one method per contract endpoint the page uses. Errors arrive as the contract's
 * `{"error":{"code","message"}}` and are thrown as ApiError with that code, so views can word them.
 */
import type { AuditPage, Consent, ErasureReport, GdprExport, GrantList, PlaybackUrl, Recording, RecordingPage, Transcript } from './api-types';
import { authHeaders, type Session } from './session';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface RecordingFilters {
  callId?: string;
  phone?: string;
  status?: string;
  from?: string;
  to?: string;
  /** Words the transcript must contain. */
  q?: string;
  limit?: number;
  cursor?: string;
}

type Query = Record<string, string | number | undefined>;

function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(name, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = 'http_' + response.status;
  let message = `The server answered ${response.status} ${response.statusText}`.trim();
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
  } catch {
    // Not the contract's JSON (a proxy's page, say): keep the status line.
  }
  return new ApiError(response.status, code, message);
}

export class Api {
  /** `onUnauthorized` runs on every 401, after which the call still throws. */
  constructor(
    private readonly session: Session,
    private readonly onUnauthorized: () => void,
  ) {}

  /** A raw response for a 2xx answer; ApiError otherwise. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(authHeaders(this.session))) headers.set(name, value);
    const response = await fetch(`/api/v1${path}`, { ...init, headers });
    if (response.ok) return response;
    if (response.status === 401) this.onUnauthorized();
    throw await errorFrom(response);
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const headers = new Headers(init.headers);
    headers.set('accept', 'application/json');
    if (init.body !== undefined) headers.set('content-type', 'application/json');
    return (await (await this.fetch(path, { ...init, headers })).json()) as T;
  }

  listRecordings(filters: RecordingFilters): Promise<RecordingPage> {
    return this.json(withQuery('/recordings', { ...filters }));
  }

  getRecording(id: string): Promise<Recording> {
    return this.json(`/recordings/${encodeURIComponent(id)}`);
  }

  async deleteRecording(id: string): Promise<void> {
    await this.fetch(`/recordings/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  download(id: string): Promise<Response> {
    return this.fetch(`/recordings/${encodeURIComponent(id)}/download`);
  }

  stream(id: string, quality: 'original' | 'high' | 'low'): Promise<Response> {
    return this.fetch(withQuery(`/recordings/${encodeURIComponent(id)}/stream`, { quality }));
  }

  playbackUrl(id: string, quality: 'original' | 'high' | 'low'): Promise<PlaybackUrl> {
    return this.json(withQuery(`/recordings/${encodeURIComponent(id)}/playback-url`, { quality }));
  }

  /** null when the recording has no transcript (404) or the deployment has no transcripts (501). */
  async transcript(id: string): Promise<Transcript | null> {
    try {
      return await this.json<Transcript>(`/recordings/${encodeURIComponent(id)}/transcript`);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 501)) return null;
      throw error;
    }
  }

  placeLegalHold(id: string, reason: string | undefined): Promise<Recording> {
    return this.json(`/lifecycle/${encodeURIComponent(id)}/legal-hold`, { method: 'POST', body: JSON.stringify(reason ? { reason } : {}) });
  }

  releaseLegalHold(id: string): Promise<Recording> {
    return this.json(`/lifecycle/${encodeURIComponent(id)}/legal-hold`, { method: 'DELETE' });
  }

  archive(id: string): Promise<Recording> {
    return this.json(`/lifecycle/${encodeURIComponent(id)}/archive`, { method: 'POST' });
  }

  restore(id: string): Promise<Recording> {
    return this.json(`/lifecycle/${encodeURIComponent(id)}/restore`, { method: 'POST' });
  }

  grants(id: string): Promise<GrantList> {
    return this.json(`/recordings/${encodeURIComponent(id)}/permissions`);
  }

  grant(id: string, userId: string): Promise<GrantList> {
    return this.json(`/recordings/${encodeURIComponent(id)}/permissions`, { method: 'POST', body: JSON.stringify({ userId, permission: 'read' }) });
  }

  revoke(id: string, userId: string): Promise<GrantList> {
    return this.json(withQuery(`/recordings/${encodeURIComponent(id)}/permissions`, { userId }), { method: 'DELETE' });
  }

  audit(query: { recordingId?: string; cursor?: string; limit?: number }): Promise<AuditPage> {
    return this.json(withQuery('/audit', query));
  }

  consent(userId?: string): Promise<Consent> {
    return this.json(withQuery('/gdpr/consent', { userId }));
  }

  putConsent(consents: Consent['consents'], userId?: string): Promise<Consent> {
    return this.json(withQuery('/gdpr/consent', { userId }), { method: 'PUT', body: JSON.stringify(consents) });
  }

  exportData(userId?: string): Promise<GdprExport> {
    return this.json(withQuery('/gdpr/export', { userId }));
  }

  erase(userId?: string): Promise<ErasureReport> {
    return this.json(withQuery('/gdpr/data', { userId }), { method: 'DELETE' });
  }
}
