import type { Output } from '../../src-relay/admin/contract.ts';
import { deletePath, getPath, putPath, type ConfigObject } from './paths.ts';

/**
 * The settings page as data. Every field comes from the table config.get sends (config.get `keys`: the schema's type,
 * default and description, and config/fields.ts's group, label, unit and control); nothing here names a key or a
 * label, so the page, the wizard and the README read one source.
 */

export type FieldDoc = Output<'config.get'>['keys'][number];
export type GroupDoc = Output<'config.get'>['groups'][number];

/** What a control holds while the admin edits: text (numbers in the shown unit), on/off, or list entries. */
export type Draft = string | boolean | readonly string[];

export interface SettingsSection {
  title: string;
  fields: FieldDoc[];
}

export interface SettingsGroup extends GroupDoc {
  sections: SettingsSection[];
}

/** The fields by group and section, in the table's order; groups without fields are left out. */
export function groupFields(fields: readonly FieldDoc[], groups: readonly GroupDoc[]): SettingsGroup[] {
  return groups
    .map((group) => {
      const sections: SettingsSection[] = [];
      for (const field of fields.filter((candidate) => candidate.group === group.id)) {
        let section = sections.find((candidate) => candidate.title === field.section);
        if (!section) {
          section = { title: field.section, fields: [] };
          sections.push(section);
        }
        section.fields.push(field);
      }
      return { ...group, sections };
    })
    .filter((group) => group.sections.length > 0);
}

/** The label of a key as the table has it (the wizard's fields use this too); the key itself when unknown. */
export function labelOf(fields: readonly FieldDoc[], key: string): string {
  return fields.find((field) => field.key === key)?.label ?? key;
}

/** The settings changed, by label, as the bar and Apply's report name them: "Largest message, Retry waits and 2 more". */
export function namedChanges(keys: readonly string[], fields: readonly FieldDoc[], most = 3): string {
  const labels = keys.map((key) => labelOf(fields, key));
  if (labels.length <= most) return labels.length > 1 ? `${labels.slice(0, -1).join(', ')} and ${labels.at(-1)}` : (labels[0] ?? '');
  return `${labels.slice(0, most).join(', ')} and ${labels.length - most} more`;
}

const isInteger = (field: FieldDoc) => field.type === 'integer' || field.type === 'integer[]';

/** A stored number in the field's unit, without float noise (26214400 bytes -> "25"; 90 seconds -> "1.5"). */
export function toShown(field: FieldDoc, value: number): string {
  const shown = value / (field.unit?.factor ?? 1);
  return String(Number(shown.toPrecision(12)));
}

/** A number typed in the field's unit, as stored (whole where the key takes whole numbers). */
function fromShown(field: FieldDoc, text: string): number | null {
  const shown = Number(text.replace(',', '.'));
  if (text === '' || !Number.isFinite(shown)) return null;
  const value = shown * (field.unit?.factor ?? 1);
  return isInteger(field) ? Math.round(value) : Number(value.toPrecision(12));
}

/** The days of the week as a weekdays field keeps them (0 Sunday … 6 Saturday), in the order the page shows them. */
export const WEEK = [1, 2, 3, 4, 5, 6, 0].map((day) => ({ day, name: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][day]! }));

/** Days in words: "every day", "Monday to Friday" for a run of three or more, else the names ("Monday, Thursday"). */
export function weekdaysText(days: readonly number[]): string {
  const ticked = WEEK.filter(({ day }) => days.includes(day));
  if (ticked.length === WEEK.length) return 'every day';
  const first = WEEK.indexOf(ticked[0]!);
  const run = ticked.length >= 3 && ticked.every((entry, index) => WEEK[first + index] === entry);
  return run ? `${ticked[0]!.name} to ${ticked.at(-1)!.name}` : ticked.map(({ name }) => name).join(', ');
}

/** The default in words and in the field's unit ("25 MB", "When offered", "none"), or null when there is none. */
export function defaultText(field: FieldDoc): string | null {
  if (field.default === '—') return null;
  let value: unknown;
  try {
    value = JSON.parse(field.default);
  } catch {
    return field.default;
  }
  if (typeof value === 'number') return `${toShown(field, value)}${field.unit ? ` ${field.unit.word}` : ''}`;
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'string') return field.choices?.[value] ?? value;
  if (Array.isArray(value)) {
    if (value.length === 0) return 'none';
    if (field.control === 'weekdays') return weekdaysText(value.map(Number));
    const items = value.map((item) => (typeof item === 'number' ? toShown(field, item) : String(item)));
    return `${items.join(', ')}${field.unit && field.control === 'number-list' ? ` ${field.unit.word}` : ''}`;
  }
  return JSON.stringify(value);
}

/** A list field's default entries ([] for none). */
export function defaultEntries(field: FieldDoc): string[] {
  try {
    const value: unknown = JSON.parse(field.default);
    return Array.isArray(value) ? value.map(String) : [];
  } catch {
    return [];
  }
}

/** The same entries in the same order. */
export function sameEntries(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

/**
 * What a control shows for a saved value (undefined: empty, the default shows as placeholder). A list shows its
 * default entries when unset: an edit adds to them or takes from them, never silently replaces them all.
 */
export function valueToDraft(field: FieldDoc, value: unknown): Draft {
  switch (field.control) {
    case 'toggle':
      return value === undefined ? field.default === 'true' : value === true;
    case 'list':
      return Array.isArray(value) ? value.map(String) : defaultEntries(field);
    case 'weekdays':
      return Array.isArray(value) ? [...new Set(value.map(Number))].sort((a, b) => a - b).map(String) : defaultEntries(field);
    case 'number-list':
      return Array.isArray(value) ? value.map((item) => (typeof item === 'number' ? toShown(field, item) : String(item))).join(', ') : '';
    case 'number':
      return typeof value === 'number' ? toShown(field, value) : value === undefined ? '' : String(value);
    case 'json':
      return value === undefined ? '' : JSON.stringify(value, null, 2);
    default:
      return typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
  }
}

/** A value in force or in the file, in a sentence as the field shows it ("25 MB", "on", "not set"); null for a secret. */
export function shownValue(field: FieldDoc, value: unknown): string | null {
  if (field.control === 'secret') return null;
  if (value === null || value === undefined) return 'not set';
  if (field.control === 'toggle') return value === true ? 'on' : 'off';
  if (Array.isArray(value) && value.length === 0) return 'none';
  if (field.control === 'weekdays' && Array.isArray(value)) return weekdaysText(value.map(Number));
  const draft = valueToDraft(field, value);
  const text = Array.isArray(draft) ? draft.join(', ') : String(draft);
  return field.unit && (field.control === 'number' || field.control === 'number-list') ? `${text} ${field.unit.word}` : text;
}

export type DraftResult = { ok: true; value: unknown } | { ok: false; message: string };

/** A control's content as the value to save; `value: undefined` removes the key (its default applies). */
export function draftToValue(field: FieldDoc, draft: Draft): DraftResult {
  if (field.control === 'toggle') return { ok: true, value: draft === true };
  if (field.control === 'list') {
    const items = (Array.isArray(draft) ? draft : splitEntries(String(draft))).map((item) => item.trim()).filter(Boolean);
    // back to a non-empty default: the key goes, so the default (and its later updates) applies again
    const defaults = defaultEntries(field);
    return { ok: true, value: defaults.length > 0 && sameEntries(items, defaults) ? undefined : items };
  }
  if (field.control === 'weekdays') {
    const days = WEEK.filter(({ day }) => Array.isArray(draft) && draft.includes(String(day))).map(({ day }) => day);
    if (days.length === 0) return { ok: false, message: 'tick at least one day' };
    // kept Sunday first, as the schema counts; the default's own days remove the key, so its default applies again
    const kept = [...days].sort((a, b) => a - b);
    return { ok: true, value: sameEntries(kept.map(String), defaultEntries(field)) ? undefined : kept };
  }
  const text = String(draft);
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, value: undefined };
  const unitWord = field.unit ? ` (in ${field.unit.word})` : '';
  switch (field.control) {
    case 'number': {
      const value = fromShown(field, trimmed);
      return value === null ? { ok: false, message: `expected a number${unitWord}` } : { ok: true, value };
    }
    case 'number-list': {
      const values = splitEntries(trimmed).map((item) => fromShown(field, item));
      return values.some((value) => value === null) ? { ok: false, message: `expected numbers${unitWord}, separated by commas` } : { ok: true, value: values };
    }
    case 'choice':
      return field.options.includes(trimmed) ? { ok: true, value: trimmed } : { ok: false, message: `expected one of ${field.options.map((option) => field.choices?.[option] ?? option).join(', ')}` };
    case 'json':
      try {
        return { ok: true, value: JSON.parse(trimmed) };
      } catch {
        return { ok: false, message: 'not valid JSON' };
      }
    case 'secret':
      return { ok: true, value: text };
    default:
      return { ok: true, value: trimmed };
  }
}

/** List entries typed in one go: separated by lines, commas or semicolons (a space stays in its entry, for the check to name). */
export function splitEntries(text: string): string[] {
  return text
    .split(/[\n,;]+/)
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/**
 * `entries` with those typed in `text` that are not there yet, each once. Every list Moat keeps (domains, addresses,
 * networks, extensions) ignores case, so "Example.COM" beside "example.com" would be the same entry twice.
 */
export function addEntries(entries: readonly string[], text: string): string[] {
  const seen = new Set(entries.map((entry) => entry.toLowerCase()));
  const added = splitEntries(text).filter((entry) => !seen.has(entry.toLowerCase()) && seen.add(entry.toLowerCase()));
  return [...entries, ...added];
}

/**
 * The saved configuration with the admin's edits (only the keys they touched), and local problems by key. A field
 * emptied whose entry says `emptyRemoves` takes its optional object with it (no smarthost, no log-in).
 */
export function applyDrafts(saved: ConfigObject, fields: readonly FieldDoc[], drafts: Readonly<Record<string, Draft>>): { config: ConfigObject; problems: Record<string, string> } {
  let config = saved;
  const problems: Record<string, string> = {};
  const removed: string[] = [];
  const byKey = new Map(fields.map((field) => [field.key, field]));
  for (const [key, draft] of Object.entries(drafts)) {
    const field = byKey.get(key);
    if (!field) continue;
    const result = draftToValue(field, draft);
    if (!result.ok) problems[key] = result.message;
    else {
      config = putPath(config, key, result.value);
      if (result.value === undefined && field.emptyRemoves) removed.push(field.emptyRemoves);
    }
  }
  for (const path of removed) config = deletePath(config, path);
  return { config, problems };
}

const same = (a: Draft, b: Draft) => (Array.isArray(a) && Array.isArray(b) ? sameEntries(a, b) : a === b);

/** The keys whose edited value differs from the saved one (for "3 unsaved changes"). */
export function changedKeys(saved: ConfigObject, fields: readonly FieldDoc[], drafts: Readonly<Record<string, Draft>>): string[] {
  const byKey = new Map(fields.map((field) => [field.key, field]));
  return Object.entries(drafts)
    .filter(([key, draft]) => {
      const field = byKey.get(key);
      return field ? !same(valueToDraft(field, getPath(saved, key)), draft) : false;
    })
    .map(([key]) => key);
}

/** The field a problem belongs to: its own key or the one holding it ("mx.dnsbl.zones.0.zone" -> "mx.dnsbl.zones"); a missing object's problem goes to its first field. */
export function keyForIssue(path: string, fields: readonly FieldDoc[]): string | null {
  let best: string | null = null;
  for (const field of fields) if ((path === field.key || path.startsWith(`${field.key}.`)) && (!best || field.key.length > best.length)) best = field.key;
  return best ?? fields.find((field) => field.key.startsWith(`${path}.`))?.key ?? null;
}

/**
 * A schema bound is in the stored unit ("must be at least 1024", bytes); a box showing MB or minutes says it
 * in that unit instead, so the admin is not told to type 1024 into a box that means megabytes.
 */
export function inShownUnit(field: FieldDoc, message: string): string {
  if (!field.unit || field.unit.factor === 1) return message;
  const unit = field.unit;
  // "must be at least 1024" (config/load.ts says zod's bounds so); a count of entries or characters is no amount
  return message.replace(/^must be (at least|at most|more than|less than) (-?\d+(?:\.\d+)?)$/, (_all, words: string, bound: string) => {
    const exact = Number((Number(bound) / unit.factor).toPrecision(12));
    const shown = String(exact).length <= 8 ? exact : Number(exact.toPrecision(3));
    // a bound under one of the box's unit ("0.000977 MB") is also said in the unit it is kept in
    const stored = STORED_WORDS[unit.word];
    const plain = Math.abs(exact) < 1 && exact !== 0 && stored ? ` (${bound} ${Number(bound) === 1 ? stored.slice(0, -1) : stored})` : '';
    return `must be ${words} ${shown} ${unit.word}${plain}`;
  });
}

/** The unit a value shown in one of these is kept in (config/fields.ts: MB and KB of bytes, minutes of seconds, seconds of milliseconds). */
const STORED_WORDS: Readonly<Record<string, string>> = { MB: 'bytes', KB: 'bytes', minutes: 'seconds', seconds: 'milliseconds' };

/** Problems by field key, and those no field shows. */
export function placeIssues(issues: readonly { path: string; message: string }[], fields: readonly FieldDoc[]): { byKey: Record<string, string[]>; unplaced: { path: string; message: string }[] } {
  const byKey: Record<string, string[]> = {};
  const unplaced: { path: string; message: string }[] = [];
  for (const issue of issues) {
    const key = keyForIssue(issue.path.replace(/^config\./, ''), fields);
    const field = key ? fields.find((candidate) => candidate.key === key) : undefined;
    if (key && field) (byKey[key] ??= []).push(inShownUnit(field, issue.message));
    else unplaced.push(issue);
  }
  return { byKey, unplaced };
}
