/**
 * How times, ages, sizes and counts read on screen. Times are shown in the admin's own zone (Intl picks it up
 * from the browser); tests pass a locale and zone so they do not depend on the machine's.
 */

export interface FormatZone {
  locale?: string;
  timeZone?: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function dateTimeFormat(options: Intl.DateTimeFormatOptions, zone: FormatZone): Intl.DateTimeFormat {
  const key = JSON.stringify([zone.locale ?? '', zone.timeZone ?? '', options]);
  let format = formatters.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(zone.locale, { ...options, ...(zone.timeZone ? { timeZone: zone.timeZone } : {}) });
    formatters.set(key, format);
  }
  return format;
}

/** "12 Mar 2025, 14:05" (in the admin's locale and zone). */
export function formatDateTime(ms: number, zone: FormatZone = {}): string {
  return dateTimeFormat({ dateStyle: 'medium', timeStyle: 'short' }, zone).format(ms);
}

/**
 * With seconds and the zone ("12 Mar 2025, 14:05:07 CET"), for traces where the order within a minute matters and
 * beside a message's own Date header or the relay's log, which are in other zones.
 */
export function formatDateTimeSeconds(ms: number, zone: FormatZone = {}): string {
  return dateTimeFormat({ dateStyle: 'medium', timeStyle: 'long' }, zone).format(ms);
}

/** The admin's time zone as the browser names it ("Europe/Berlin"), for fields that take a time in it. */
export function localZoneName(zone: FormatZone = {}): string {
  return dateTimeFormat({ timeZoneName: 'short' }, zone).resolvedOptions().timeZone;
}

/** Chart axis labels: the hour for a day's chart, the weekday and hour for a week's. */
export function formatAxisTime(ms: number, range: '24h' | '7d', zone: FormatZone = {}): string {
  return range === '24h'
    ? dateTimeFormat({ hour: '2-digit', minute: '2-digit' }, zone).format(ms)
    : dateTimeFormat({ weekday: 'short', hour: '2-digit' }, zone).format(ms);
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A length of time in at most two units: "45 s", "12 min", "3 h 20 min", "2 days 4 h". */
export function formatDuration(ms: number): string {
  const value = Math.max(0, ms);
  if (value < MINUTE) return `${Math.floor(value / SECOND)} s`;
  if (value < HOUR) return `${Math.floor(value / MINUTE)} min`;
  if (value < DAY) {
    const hours = Math.floor(value / HOUR);
    const minutes = Math.floor((value % HOUR) / MINUTE);
    return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  }
  const days = Math.floor(value / DAY);
  const hours = Math.floor((value % DAY) / HOUR);
  const dayWord = days === 1 ? 'day' : 'days';
  return hours ? `${days} ${dayWord} ${hours} h` : `${days} ${dayWord}`;
}

/** "5 min ago", "in 3 h", or "just now" within ten seconds either way. */
export function formatRelative(at: number, now: number): string {
  const diff = at - now;
  if (Math.abs(diff) < 10 * SECOND) return 'just now';
  return diff > 0 ? `in ${formatDuration(diff)}` : `${formatDuration(-diff)} ago`;
}

const SIZE_UNITS = ['KB', 'MB', 'GB', 'TB'] as const;

/** Bytes in binary steps, the way mail clients show them: "512 B", "1.5 KB", "24 MB". */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes || 0))} B`;
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
  return `${shown} ${SIZE_UNITS[unit]}`;
}

const numberFormats = new Map<string, Intl.NumberFormat>();

/** 12,345 in the admin's locale. */
export function formatCount(value: number, locale?: string): string {
  const key = locale ?? '';
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale);
    numberFormats.set(key, format);
  }
  return format.format(value);
}

/** "1 message", "3 messages". */
export function plural(count: number, one: string, many = `${one}s`, locale?: string): string {
  return `${formatCount(count, locale)} ${count === 1 ? one : many}`;
}

/** Junk scores keep one decimal at most. */
export function formatScore(score: number | null | undefined): string {
  if (score === null || score === undefined || !Number.isFinite(score)) return '—';
  return String(Math.round(score * 10) / 10);
}

/** Milliseconds a filter took: "0.4 ms", "6 ms", "1.2 s". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 10) return `${Math.round(ms * 10) / 10} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Math.round(ms / 100) / 10} s`;
}

/** A date-time-local input's value ("2025-03-12T14:05") as epoch ms in the admin's zone; null when empty or wrong. */
export function parseLocalDateTime(value: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return null;
  const date = new Date(year, month - 1, day, hour, minute, second);
  if (date.getMonth() !== month - 1 || date.getDate() !== day) return null;
  return date.getTime();
}

/** Epoch ms as a date-time-local input's value, in the admin's zone. */
export function toLocalDateTimeValue(ms: number): string {
  const date = new Date(ms);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
