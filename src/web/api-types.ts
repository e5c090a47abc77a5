/** The shapes of ../shared/CONTRACT.md as the browser sees them (JSON over /api/v1). */

export type Role = 'user' | 'admin' | 'auditor';
export type RecordingStatus = 'recording' | 'processing' | 'ready' | 'failed';
export type StorageTier = 'hot' | 'cool' | 'cold' | 'archive';

export interface Recording {
  id: string;
  callId: string;
  userId: string;
  callerPhone: string | null;
  receiverPhone: string | null;
  startTime: string;
  endTime: string | null;
  durationMs: number | null;
  format: string;
  contentType: string;
  size: number;
  status: RecordingStatus;
  failureReason?: string | null;
  storageTier: StorageTier;
  legalHold: boolean;
  pauses?: { at: string; durationMs: number }[];
  gaps?: { fromSequence: number; toSequence: number }[];
  renditions?: ('high' | 'low' | 'mp3')[];
  createdAt: string;
}

export interface RecordingPage {
  items: Recording[];
  nextCursor: string | null;
}

export interface TranscriptSegment {
  start: number;
  end: number;
  speaker: string | null;
  text: string;
}

export interface Transcript {
  recordingId: string;
  language: string;
  text: string;
  segments: TranscriptSegment[];
  /** Beyond the contract: made by this service (`automatic`) or PUT by a speech-to-text system (`service`). */
  source: 'automatic' | 'service';
  /** Beyond the contract: the engine of an automatic transcript; null for a service's. */
  engine: string | null;
}

export interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: string;
  recordingId: string | null;
  outcome: 'success' | 'denied' | 'failure';
  hash: string;
  prevHash: string;
}

export interface AuditPage {
  items: AuditEvent[];
  nextCursor: string | null;
}

export interface Consent {
  userId: string;
  consents: { recording: boolean; transcription: boolean };
  updatedAt: string | null;
}

export interface GrantList {
  recordingId: string;
  grants: { userId: string; permission: 'read'; grantedBy: string; grantedAt: string }[];
}

export interface GdprExport {
  userId: string;
  exportedAt: string;
  consent: unknown;
  recordings: unknown[];
  transcripts: unknown[];
  auditEvents: unknown[];
}

export interface ErasureReport {
  userId: string;
  /** The ids erased (a count in older deployments). */
  deletedRecordings: string[] | number;
  retainedRecordings: { id: string; reason: string }[];
  verification: { allObjectsGone?: boolean; keyDestroyed?: boolean; keyRetainedReason?: string | null } & Record<string, unknown>;
  /** What erasure cannot reach (backups, logs) and until when. */
  outlives?: { what: string; until: string | null; detail: string }[];
}

export interface PlaybackUrl {
  url: string;
  expiresAt: string;
}
