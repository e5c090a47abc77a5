/**
 * The web app end to end in Debian's Chromium (playwright-core) against `wrangler dev` serving
 * the built page and the Worker, with the media queue transcoding through the real FFmpeg
 * server: sign in, record 5 s from the fake microphone through a real network drop, play back
 * with the true duration and seek, legal hold, the list with filters, consent, export and erasure.
 * Screenshots of every screen, desktop and phone width, go to test/artifacts/, and axe-core checks
 * each of them at both widths (serious or critical findings fail).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { formatBytes } from '../../src/web/format';
import { decodedSeconds, writeFakeMicrophoneWav } from '../e2e/audio';
import { startDropProxy, type DropProxy } from '../e2e/drop-proxy';
import { ROOT, startService, type Service } from '../e2e/service';
import { tokenFor } from '../live/wrangler-dev';
import { TEST_SECRETS } from '../support/secrets';

const ARTIFACTS = path.join(ROOT, 'test/artifacts');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const API_KEY = TEST_SECRETS.API_KEYS.split(',')[0]!;
const USER = 'web-e2e-admin';
const RECORD_MS = 5_000;

let service: Service;
let proxy: DropProxy;
let browser: Browser;
let page: Page;
let scratch: string;
const requested: string[] = [];
/** Every screen axe-core checked, with its width. */
const axeScreens: string[] = [];
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const rangeAnswers: { status: number; contentRange: string | null }[] = [];

/** What the test learns on the way, for the steps after it. */
const call = { callId: `web-e2e-${Date.now()}`, recordingId: '', elapsedMs: 0 };

/** The steps after the recording share it: without it they fail at once instead of timing out one by one. */
function needsRecording(): void {
  if (!call.recordingId) throw new Error('needs the recording made by the recorder step, which failed');
}

async function api<T>(pathname: string): Promise<T> {
  const response = await fetch(`${service.url}/api/v1${pathname}`, { headers: { 'x-api-key': API_KEY } });
  if (!response.ok) throw new Error(`${pathname} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

async function bytesOf(pathname: string): Promise<{ bytes: Uint8Array; headers: Headers }> {
  const response = await fetch(`${service.url}/api/v1${pathname}`, { headers: { 'x-api-key': API_KEY } });
  if (!response.ok) throw new Error(`${pathname} answered ${response.status}`);
  return { bytes: new Uint8Array(await response.arrayBuffer()), headers: response.headers };
}

interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  targets: string[];
}

/**
 * axe-core's WCAG 2.x A/AA rules over the page as it is, failing on serious or critical findings.
 * Injected through the DevTools protocol, which the page's CSP (script-src 'self') does not govern.
 */
async function expectAccessible(screen: string): Promise<void> {
  if (!(await page.evaluate('typeof window.axe === "object"'))) {
    const devtools = await page.context().newCDPSession(page);
    const injected = await devtools.send('Runtime.evaluate', { expression: AXE_SOURCE });
    await devtools.detach();
    if (injected.exceptionDetails) throw new Error(`axe-core could not be injected: ${injected.exceptionDetails.text}`);
  }
  const serious = `axe
    .run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] }, resultTypes: ['violations'] })
    .then((result) => result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'))
    .then((found) => found.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) })))`;
  const findings = (await page.evaluate(serious)) as AxeFinding[];
  axeScreens.push(screen);
  expect(findings, `axe-core on ${screen}`).toEqual([]);
}

/** axe-core at desktop and at 390 px width. */
async function expectAccessibleAtBothWidths(screen: string): Promise<void> {
  await expectAccessible(`${screen} (desktop)`);
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(150);
  await expectAccessible(`${screen} (390 px)`);
  await page.setViewportSize(DESKTOP);
}

/**
 * Screenshots at desktop and phone width, each also checked by axe-core; full page unless a modal
 * dialog (its backdrop covers the viewport only) is open.
 */
async function screenshots(name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}-desktop.png`), fullPage });
  await expectAccessible(`${name} (desktop)`);
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(150);
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}-phone.png`), fullPage });
  await expectAccessible(`${name} (390 px)`);
  await page.setViewportSize(DESKTOP);
}

/**
 * Wait for a page expression to be true. page.waitForFunction would evaluate it with `new Function`,
 * which the page's Content-Security-Policy (script-src 'self') rightly refuses.
 */
const until = (expression: string, timeout = 30_000) => expect.poll(() => page.evaluate(expression), { timeout }).toBeTruthy();

const connection = () => page.getByTestId('connection').getAttribute('data-state');

const number = async (testId: string) => Number((await page.getByTestId(testId).textContent())?.match(/\d+/)?.[0] ?? NaN);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  scratch = mkdtempSync(path.join(tmpdir(), 'web-e2e-'));
  const microphone = path.join(scratch, 'microphone.wav');
  writeFakeMicrophoneWav(microphone);
  [service, proxy] = await Promise.all([startService({ verbose: process.env.WEB_E2E_VERBOSE === '1' }), startDropProxy()]);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${microphone}`,
      '--autoplay-policy=no-user-gesture-required',
      // Loopback goes through the proxy too (by default Chromium bypasses proxies for it).
      `--proxy-server=${proxy.url}`,
      '--proxy-bypass-list=<-loopback>',
    ],
  });
  const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
  page = await context.newPage();
  page.on('request', (request) => requested.push(request.url()));
  page.on('response', (response) => {
    if (response.url().includes('/play?')) rangeAnswers.push({ status: response.status(), contentRange: response.headers()['content-range'] ?? null });
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await service?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('web app in Chromium', () => {
  it('signs in with a token minted in the page (local mode), keyboard first', async () => {
    await page.goto(service.url);
    // The first load compiles the bundle in a cold Chromium: on a busy machine that takes over 5 s.
    await expect.poll(() => page.locator('h1').textContent(), { timeout: 30_000 }).toBe('Sign in');
    // Each screen moves focus to its heading; the next Tab reaches its first field.
    expect(await page.evaluate('document.activeElement.tagName + " " + document.activeElement.textContent')).toBe('H1 Sign in');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.labels[0].textContent')).toBe('Access token (JWT)');
    await screenshots('sign-in');

    await page.getByLabel('User id').fill(USER);
    await page.getByLabel('Role').selectOption('admin');
    await page.getByLabel('JWT secret').fill(TEST_SECRETS.JWT_SECRET);
    await page.getByRole('button', { name: 'Sign in as developer' }).click();
    await page.waitForURL(/#\/record$/);
    expect(await page.getByTestId('who').textContent()).toBe(`${USER} · admin`);
  });

  it('records 5 s from the microphone through a real network drop, resuming from nextSequence', async () => {
    await expectAccessibleAtBothWidths('record: call details');
    await page.getByLabel('Call id').fill(call.callId);
    await page.getByLabel('Caller phone (optional)').fill('+14155550123');
    await page.getByLabel('Receiver phone (optional)').fill('+442071838750');
    await page.getByRole('button', { name: 'Start recording' }).click();
    // The first live call wakes the Durable Object: seconds on a busy machine.
    await expect.poll(connection, { timeout: 30_000 }).toBe('open');
    await expect.poll(() => number('acked'), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await until('Number(document.querySelector("[data-testid=elapsed]").dataset.ms) >= 1500');
    const tunnelsBefore = proxy.tunnels;

    // Midway: every connection destroyed, new ones refused for 1.5 s.
    const cut = proxy.cut(1_500);
    await expect.poll(connection, { timeout: 3_000 }).toBe('reconnecting');
    expect(await page.getByTestId('connection').textContent()).toMatch(/reconnecting; audio is kept in this page/);
    await page.waitForTimeout(500);
    await screenshots('recorder-reconnecting');
    await cut;
    await expect.poll(connection, { timeout: 10_000 }).toBe('open');
    expect(proxy.tunnels).toBeGreaterThan(tunnelsBefore);
    expect(await number('reconnects')).toBeGreaterThanOrEqual(1);
    // What was held during the drop went out again: everything sent so far is acknowledged.
    await expect.poll(async () => (await page.getByTestId('acked').textContent())?.match(/^(\d+) of (\d+)/)?.slice(1).every((n, _, all) => n === all[0])).toBe(true);
    await screenshots('recorder');

    await until(`Number(document.querySelector("[data-testid=elapsed]").dataset.ms) >= ${RECORD_MS}`, 15_000);
    call.elapsedMs = Number(await page.getByTestId('elapsed').getAttribute('data-ms'));
    await page.getByRole('button', { name: 'Stop and save' }).click();
    await page.waitForURL(/#\/recordings\/rec_/, { timeout: 30_000 }).catch(async (error: unknown) => {
      throw new Error(`Stop did not open the recording; the recorder shows:\n${await page.locator('.recorder').innerText().catch(() => '?')}`, { cause: error });
    });
    call.recordingId = /#\/recordings\/(rec_\w+)/.exec(page.url())![1]!;
  }, 90_000);

  it('processes the recording; it plays back with its true duration (~5 s, measured by decoding) and seeks by Range', async () => {
    needsRecording();
    await expect.poll(() => page.getByTestId('badge-status').textContent(), { timeout: 90_000, interval: 1_000 }).toBe('Ready');
    const recording = await api<{ durationMs: number; gaps: unknown[]; renditions: string[]; callId: string }>(`/recordings/${call.recordingId}`);
    expect(recording.callId).toBe(call.callId);
    expect(recording.gaps).toEqual([]);
    expect(recording.renditions).toContain('high');

    // The recorder ran for elapsedMs (a little over 5 s, plus the screenshots' time); nothing lost in the drop.
    const expected = call.elapsedMs / 1000;
    const original = await decodedSeconds((await bytesOf(`/recordings/${call.recordingId}/download`)).bytes);
    const high = await bytesOf(`/recordings/${call.recordingId}/stream?quality=high`);
    expect(high.headers.get('x-rendition')).toBe('high');
    const highSeconds = await decodedSeconds(high.bytes);
    console.info(`recorded ${expected.toFixed(2)} s in the page; decoded original ${original.toFixed(2)} s, high rendition ${highSeconds.toFixed(2)} s; durationMs ${recording.durationMs}`);
    expect(Math.abs(original - expected)).toBeLessThan(0.6);
    expect(Math.abs(highSeconds - expected)).toBeLessThan(0.6);
    expect(Math.abs(recording.durationMs / 1000 - original)).toBeLessThan(0.25);
    expect(original).toBeGreaterThan(RECORD_MS / 1000 - 0.3);

    // The player knows the length (a raw MediaRecorder WebM would say Infinity).
    await until('Number.isFinite(document.querySelector("[data-testid=audio]").duration) && document.querySelector("[data-testid=audio]").duration > 0');
    const playerSeconds = Number(await page.evaluate('document.querySelector("[data-testid=audio]").duration'));
    expect(Math.abs(playerSeconds - recording.durationMs / 1000)).toBeLessThan(0.2);
    expect(await page.getByTestId('duration').textContent()).toMatch(/^0:0[4-9]\.\d$/);
    await page.waitForSelector('[data-testid=waveform][data-ready=true]');

    // Seek with the keyboard: Home, then 30 steps of 0.1 s.
    const position = page.getByLabel('Position');
    await position.focus();
    await page.keyboard.press('Home');
    for (let i = 0; i < 30; i++) await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.evaluate('document.querySelector("[data-testid=audio]").currentTime')).toBeCloseTo(3, 1);
    await page.getByRole('button', { name: 'Play' }).click();
    await expect.poll(() => page.evaluate('document.querySelector("[data-testid=audio]").currentTime'), { timeout: 10_000 }).toBeGreaterThan(3.3);
    await page.getByRole('button', { name: 'Pause' }).click();
    expect(rangeAnswers.some((a) => a.status === 206 && a.contentRange?.startsWith('bytes '))).toBe(true);
    await screenshots('recording');
  }, 150_000);

  it('an admin grants and revokes read access, archives and restores', async () => {
    needsRecording();
    await page.getByLabel('User id').fill('web-e2e-colleague');
    await page.getByRole('button', { name: 'Grant read access' }).click();
    await expect.poll(() => page.locator('.grants').textContent()).toContain('web-e2e-colleague — read, granted by web-e2e-admin');
    await page.getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => page.locator('.grants').textContent()).toBe('No one else can read this recording.');

    await page.getByRole('button', { name: 'Move to archive' }).click();
    await expect.poll(() => page.getByTestId('badge-archived').textContent()).toBe('Archived');
    expect(await page.getByRole('button', { name: 'Download original' }).isDisabled()).toBe(true);
    expect(await page.getByText('Archived: restore it to listen or download.').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Restore from archive' }).click();
    await expect.poll(() => page.getByTestId('badge-archived').count()).toBe(0);
    await page.waitForSelector('[data-testid=waveform][data-ready=true]');
  });

  it('an admin places a legal hold; delete is disabled and the audit trail shows it', async () => {
    needsRecording();
    await page.getByLabel('Reason (optional)').fill('Case 2024-117');
    await page.getByRole('button', { name: 'Place legal hold' }).click();
    await expect.poll(() => page.getByTestId('badge-hold').textContent()).toBe('Legal hold');
    expect(await page.getByRole('button', { name: 'Delete recording' }).isDisabled()).toBe(true);
    expect(await page.getByText('Delete is disabled: the recording is on legal hold.').isVisible()).toBe(true);
    expect((await api<{ legalHold: boolean }>(`/recordings/${call.recordingId}`)).legalHold).toBe(true);
    await expect.poll(() => page.getByTestId('audit-table').textContent()).toContain('recording.legal_hold');
    expect(await page.getByTestId('audit-table').textContent()).toContain('recording.archive');
    await screenshots('recording-legal-hold');
  });

  it('shows the transcript and highlights the segment being spoken', async () => {
    needsRecording();
    const segments = [
      { start: 0, end: 1.5, speaker: 'Agent', text: 'Thank you for calling.' },
      { start: 1.5, end: 3, speaker: 'Caller', text: 'I would like to check my order.' },
      { start: 3, end: 5, speaker: 'Agent', text: 'Of course, one moment please.' },
    ];
    const stored = await fetch(`${service.url}/api/v1/recordings/${call.recordingId}/transcript`, {
      method: 'PUT',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'en', text: segments.map((s) => s.text).join(' '), segments }),
    });
    expect(stored.status).toBe(200);
    await page.reload();
    const items = page.locator('.transcript li');
    await expect.poll(() => items.count()).toBe(3);
    // A segment seeks to its start; playing moves the highlight along.
    await items.nth(1).getByRole('button').click();
    await expect.poll(() => page.evaluate('document.querySelector("[data-testid=audio]").currentTime')).toBeCloseTo(1.5, 1);
    await expect.poll(() => items.nth(1).getByRole('button').getAttribute('aria-current')).toBe('time');
    await page.getByRole('button', { name: 'Play' }).click();
    await expect.poll(() => items.nth(2).getByRole('button').getAttribute('aria-current'), { timeout: 10_000 }).toBe('time');
    await page.getByRole('button', { name: 'Pause' }).click();
    expect(await items.nth(1).getByRole('button').getAttribute('aria-current')).toBeNull();
    await screenshots('recording-transcript');
  });

  it('lists recordings with a call-id filter and status badges', async () => {
    needsRecording();
    await page.getByRole('link', { name: 'Recordings', exact: true }).click();
    await page.getByLabel('Call id').fill(call.callId);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const rows = page.locator('tr[data-recording-id]');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().getAttribute('data-recording-id')).toBe(call.recordingId);
    expect(await rows.first().textContent()).toMatch(/Ready.*Legal hold/);
    await page.getByRole('button', { name: 'Clear' }).click();
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(1);
    await screenshots('recordings');
  });

  it('shows a live call started over the plain protocol as Recording, its size kept current without a reload', async () => {
    const liveCallId = `web-e2e-live-${Date.now()}`;
    const socket = new WebSocket(`${service.url.replace('http', 'ws')}/api/v1/recordings/live?callId=${liveCallId}`, { headers: { authorization: `Bearer ${await tokenFor(USER, 'admin')}` } });
    const frames: { type: string; sequence?: number; recordingId?: string }[] = [];
    socket.on('message', (data, isBinary) => {
      if (!isBinary) frames.push(JSON.parse(String(data)) as { type: string; sequence?: number; recordingId?: string });
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const answered = (type: string, sequence?: number) =>
      expect.poll(() => frames.some((f) => f.type === type && (sequence === undefined || f.sequence === sequence)), { timeout: 30_000 }).toBe(true);
    const chunk = (sequence: number, size: number) => {
      const frame = Buffer.alloc(4 + size, sequence + 1);
      frame.writeUInt32BE(sequence, 0);
      // WebM's magic opens the call: the service sniffs a call's first bytes.
      if (sequence === 0) Buffer.from([0x1a, 0x45, 0xdf, 0xa3]).copy(frame, 4);
      socket.send(frame);
    };
    try {
      socket.send(JSON.stringify({ type: 'start', callId: liveCallId, format: 'webm', callerPhone: '+14155550123', receiverPhone: '+442071838750' }));
      await answered('started');
      const recordingId = frames.find((f) => f.type === 'started')!.recordingId!;
      chunk(0, 2_000);
      await answered('ack', 0);

      await page.getByRole('link', { name: 'Recordings', exact: true }).click();
      await page.getByLabel('Call id').fill(liveCallId);
      await page.getByRole('button', { name: 'Apply filters' }).click();
      const rows = page.locator('tr[data-recording-id]');
      const row = page.locator(`tr[data-recording-id="${recordingId}"]`);
      await expect.poll(() => rows.evaluateAll((found) => found.map((r) => r.getAttribute('data-recording-id'))), { timeout: 15_000 }).toEqual([recordingId]);
      expect(await row.getByTestId('badge-status').textContent()).toBe('Recording');
      const size = row.locator('td[data-label="Size"]');
      await expect.poll(() => size.textContent(), { timeout: 15_000 }).toBe(formatBytes(2_000));

      // More audio while the list stays open: the page re-reads it by itself (the row's size trails by ≤ 10 s, the list by 5 s).
      chunk(1, 60_000);
      await answered('ack', 1);
      await expect.poll(() => size.textContent(), { timeout: 30_000 }).toBe(formatBytes(62_000));
      expect(await row.getByTestId('badge-status').textContent()).toBe('Recording');

      socket.send(JSON.stringify({ type: 'stop' }));
      await answered('stopped');
      await expect.poll(() => row.getByTestId('badge-status').textContent(), { timeout: 30_000 }).not.toBe('Recording');
    } finally {
      socket.close();
      await page.getByRole('button', { name: 'Clear' }).click();
    }
  }, 120_000);

  it('finds the recording by words of its transcript from the list’s search box', async () => {
    needsRecording();
    await page.getByRole('link', { name: 'Recordings', exact: true }).click();
    const rows = page.locator('tr[data-recording-id]');
    await page.getByRole('searchbox', { name: 'Search transcripts' }).fill('Moment ORDER');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(async () => rows.evaluateAll((found) => found.map((row) => row.getAttribute('data-recording-id')))).toContain(call.recordingId);
    await page.getByRole('searchbox', { name: 'Search transcripts' }).fill('moment zeppelin');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.locator('.empty').textContent()).toMatch(/No recordings whose transcript contains “moment zeppelin”/);
    await page.getByRole('searchbox', { name: 'Search transcripts' }).fill('');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(1);
  });

  it('privacy: consent toggles, export downloads the JSON, erasure needs confirmation and keeps held recordings', async () => {
    needsRecording();
    await page.getByRole('link', { name: 'Privacy' }).click();
    await expect.poll(() => page.getByTestId('consent-recording').isChecked()).toBe(true);
    await page.getByLabel('my recordings are transcribed').uncheck();
    await page.getByRole('button', { name: 'Save choices' }).click();
    await expect.poll(async () => (await api<{ consents: { transcription: boolean } }>(`/gdpr/consent?userId=${USER}`)).consents.transcription).toBe(false);

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download my data (JSON)' }).click();
    const file = path.join(scratch, 'export.json');
    await (await download).saveAs(file);
    const exported = JSON.parse(readFileSync(file, 'utf8')) as { userId: string; recordings: { id: string; downloadUrl: string }[] };
    expect(exported.userId).toBe(USER);
    expect(exported.recordings.map((r) => r.id)).toContain(call.recordingId);
    await screenshots('privacy');

    await page.getByRole('button', { name: 'Erase my data…' }).click();
    const confirm = page.getByRole('button', { name: 'Erase everything' });
    expect(await confirm.isDisabled()).toBe(true);
    await page.getByLabel('Type ERASE').fill('ERASE');
    expect(await confirm.isDisabled()).toBe(false);
    await screenshots('privacy-erase-confirm', false);
    await confirm.click();
    await expect.poll(() => page.getByTestId('erasure-report').textContent(), { timeout: 30_000 }).toContain(call.recordingId);
    await screenshots('privacy-erased');
    // On legal hold: kept, still there.
    expect((await api<{ id: string }>(`/recordings/${call.recordingId}`)).id).toBe(call.recordingId);
  }, 60_000);

  it('without recording consent the live call is refused with a clear message', async () => {
    await page.getByLabel('my calls are recorded').uncheck();
    await page.getByRole('button', { name: 'Save choices' }).click();
    await expect.poll(async () => (await api<{ consents: { recording: boolean } }>(`/gdpr/consent?userId=${USER}`)).consents.recording).toBe(false);
    await page.getByRole('link', { name: 'Record', exact: true }).click();
    await page.getByRole('button', { name: 'Start recording' }).click();
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'Recording stopped' }).textContent()).toMatch(/consent_required.*Turn recording consent on under Privacy/);
    await page.getByRole('button', { name: 'Back to call details' }).click();
    expect(await page.getByRole('button', { name: 'Start recording' }).isVisible()).toBe(true);
  });

  it('had axe-core check every screen at desktop and 390 px width', () => {
    for (const screen of ['sign-in', 'record: call details', 'recorder', 'recording', 'recordings', 'privacy', 'privacy-erase-confirm']) {
      expect(axeScreens, screen).toContain(`${screen} (desktop)`);
      expect(axeScreens, screen).toContain(`${screen} (390 px)`);
    }
  });

  it('made no request to any other origin', () => {
    const foreign = requested.filter((url) => !url.startsWith(service.url) && !url.startsWith('data:') && !url.startsWith('blob:'));
    expect(foreign).toEqual([]);
    expect(requested.length).toBeGreaterThan(10);
  });
});
