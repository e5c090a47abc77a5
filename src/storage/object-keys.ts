/**
 * Where a recording's objects live in every provider: `recordings/<id>/` holds the sealed original
 * and its renditions (redaction adds `original-r<n>-….enc` beside them), so one prefix covers all
 * of a recording's bytes for retention and erasure sweeps.
 */
export type ObjectQuality = 'original' | 'high' | 'low' | 'mp3';

export const objectKeyFor = (recordingId: string, quality: ObjectQuality = 'original') => `recordings/${recordingId}/${quality}.enc`;

/** The prefix under which every object of the recording lives. */
export const objectPrefixFor = (recordingId: string) => `recordings/${recordingId}/`;
