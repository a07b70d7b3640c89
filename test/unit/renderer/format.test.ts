import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDateTime, formatDateTimeSeconds, formatDuration, localZoneName, formatMs, formatRelative, formatSize, formatScore, parseLocalDateTime, plural, toLocalDateTimeValue } from '../../../src-renderer/lib/format.ts';

test('a time is shown in the zone asked for', () => {
  const at = Date.UTC(2025, 2, 12, 13, 5);
  assert.equal(formatDateTime(at, { locale: 'en-GB', timeZone: 'UTC' }), '12 Mar 2025, 13:05');
  assert.equal(formatDateTime(at, { locale: 'en-GB', timeZone: 'Europe/Berlin' }), '12 Mar 2025, 14:05');
  // with seconds it names the zone: beside a Date header in +0000 or a log in UTC it cannot be misread
  assert.equal(formatDateTimeSeconds(at, { locale: 'en-GB', timeZone: 'Europe/Berlin' }), '12 Mar 2025, 14:05:00 CET');
  assert.equal(formatDateTimeSeconds(at, { locale: 'en-US', timeZone: 'America/New_York' }), 'Mar 12, 2025, 9:05:00 AM EDT');
  assert.equal(localZoneName({ timeZone: 'America/New_York' }), 'America/New_York');
});

test('durations use at most two units', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(45_000), '45 s');
  assert.equal(formatDuration(12 * 60_000 + 30_000), '12 min');
  assert.equal(formatDuration(3 * 3_600_000), '3 h');
  assert.equal(formatDuration(3 * 3_600_000 + 20 * 60_000), '3 h 20 min');
  assert.equal(formatDuration(86_400_000), '1 day');
  assert.equal(formatDuration(2 * 86_400_000 + 4 * 3_600_000), '2 days 4 h');
  assert.equal(formatDuration(-5), '0 s');
});

test('relative times say ago or in', () => {
  const now = 1_000_000_000;
  assert.equal(formatRelative(now - 5 * 60_000, now), '5 min ago');
  assert.equal(formatRelative(now + 3 * 3_600_000, now), 'in 3 h');
  assert.equal(formatRelative(now + 2000, now), 'just now');
});

test('sizes are binary and short', () => {
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(512), '512 B');
  assert.equal(formatSize(1536), '1.5 KB');
  assert.equal(formatSize(25 * 1024 * 1024), '25 MB');
  assert.equal(formatSize(3.25 * 1024 ** 3), '3.3 GB');
});

test('counts and scores read plainly', () => {
  assert.equal(plural(1, 'message', undefined, 'en'), '1 message');
  assert.equal(plural(12345, 'message', undefined, 'en'), '12,345 messages');
  assert.equal(formatScore(7.25), '7.3');
  assert.equal(formatScore(null), '—');
});

test('a date-time-local value is read in the local zone and written back the same', () => {
  const ms = parseLocalDateTime('2025-03-12T14:05');
  assert.equal(ms, new Date(2025, 2, 12, 14, 5).getTime());
  assert.equal(toLocalDateTimeValue(ms!), '2025-03-12T14:05');
  assert.equal(parseLocalDateTime(''), null);
  assert.equal(parseLocalDateTime('2025-02-30T10:00'), null);
  assert.equal(parseLocalDateTime('yesterday'), null);
});

test('filter times are rounded to what a person reads', () => {
  assert.equal(formatMs(0.3521590), '0.4 ms');
  assert.equal(formatMs(6.36), '6.4 ms');
  assert.equal(formatMs(48.7), '49 ms');
  assert.equal(formatMs(1234), '1.2 s');
});
