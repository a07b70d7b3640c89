import { getPath, putPath, type ConfigObject } from './paths.ts';

/**
 * The settings page is driven by the key table config.get sends (key, type, default, description; the same
 * table as the README's, read from the config schema): each key becomes an input of its type, grouped by section.
 */

export interface KeyDoc {
  key: string;
  type: string;
  default: string;
  description: string;
}

export type KeyKind = 'boolean' | 'integer' | 'number' | 'string' | 'secret' | 'enum' | 'list' | 'json';

export interface KeyModel extends KeyDoc {
  kind: KeyKind;
  /** For enums: the allowed values. */
  options: string[];
  /** For lists: what one line holds. */
  itemKind: 'string' | 'number' | 'integer';
  section: string;
  label: string;
}

export const SECTIONS: readonly { id: string; title: string }[] = [
  { id: 'general', title: 'General' },
  { id: 'internal', title: 'Internal server' },
  { id: 'mx', title: 'Inbound (port 25)' },
  { id: 'filters', title: 'Filters' },
  { id: 'outbound', title: 'Outbound' },
  { id: 'submission', title: 'Submission' },
  { id: 'queue', title: 'Queue' },
  { id: 'quarantine', title: 'Quarantine' },
  { id: 'alerts', title: 'Alerts' },
  { id: 'checklist', title: 'Checklist' },
  { id: 'backup', title: 'Backup' },
  { id: 'admin', title: 'Admin listener' },
];

/** Reads the type column: `boolean`, `integer`, `"a" \| "b"`, `string[]`, `object`... */
export function parseKeyType(type: string, key = ''): Pick<KeyModel, 'kind' | 'options' | 'itemKind'> {
  const base = { options: [] as string[], itemKind: 'string' as const };
  if (type.includes('"')) return { ...base, kind: 'enum', options: [...type.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1]!) };
  if (type === 'boolean') return { ...base, kind: 'boolean' };
  if (type === 'integer') return { ...base, kind: 'integer' };
  if (type === 'number') return { ...base, kind: 'number' };
  if (type === 'string') return { ...base, kind: /(^|\.)pass$/.test(key) ? 'secret' : 'string' };
  if (type === 'string[]') return { ...base, kind: 'list' };
  if (type === 'integer[]' || type === 'number[]') return { ...base, kind: 'list', itemKind: type === 'integer[]' ? 'integer' : 'number' };
  return { ...base, kind: 'json' };
}

/** "mx.maxConnectionsPerIp" -> "Max connections per IP". */
export function labelFor(key: string): string {
  const last = key.split('.').pop() ?? key;
  const words = last
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .replace(/\b(ip|tls|ca|mx|dmarc|dkim|spf|url|ttl|ms|sec)\b/g, (word) => (word === 'ms' || word === 'sec' ? `(${word === 'ms' ? 'ms' : 's'})` : word.toUpperCase()));
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function sectionOf(key: string): string {
  const dot = key.indexOf('.');
  return dot === -1 ? 'general' : key.slice(0, dot);
}

export function keyModel(doc: KeyDoc): KeyModel {
  return { ...doc, ...parseKeyType(doc.type, doc.key), section: sectionOf(doc.key), label: labelFor(doc.key) };
}

export interface SettingsSection {
  id: string;
  title: string;
  keys: KeyModel[];
}

/** The keys by section, in the page's order; a section the list does not know goes last under its own name. */
export function groupKeys(docs: readonly KeyDoc[]): SettingsSection[] {
  const sections = new Map<string, SettingsSection>(SECTIONS.map((section) => [section.id, { ...section, keys: [] }]));
  for (const doc of docs) {
    const model = keyModel(doc);
    let section = sections.get(model.section);
    if (!section) {
      section = { id: model.section, title: model.section, keys: [] };
      sections.set(model.section, section);
    }
    section.keys.push(model);
  }
  return [...sections.values()].filter((section) => section.keys.length > 0);
}

/** What an input shows for a saved value (undefined: the box is empty and the default shows as placeholder). */
export function valueToDraft(model: KeyModel, value: unknown): string | boolean {
  if (model.kind === 'boolean') return value === undefined ? model.default === 'true' : value === true;
  if (value === undefined) return '';
  if (model.kind === 'list') return Array.isArray(value) ? value.map(String).join('\n') : JSON.stringify(value);
  if (model.kind === 'json') return JSON.stringify(value, null, 2);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export type DraftResult = { ok: true; value: unknown } | { ok: false; message: string };

/** An input's text as the value to save; `value: undefined` means "remove the key, use the default". */
export function draftToValue(model: KeyModel, draft: string | boolean): DraftResult {
  if (model.kind === 'boolean') return { ok: true, value: draft === true };
  const text = String(draft);
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, value: undefined };
  switch (model.kind) {
    case 'integer':
    case 'number': {
      const value = Number(trimmed);
      if (!Number.isFinite(value)) return { ok: false, message: 'expected a number' };
      if (model.kind === 'integer' && !Number.isInteger(value)) return { ok: false, message: 'expected a whole number' };
      return { ok: true, value };
    }
    case 'enum':
      return model.options.includes(trimmed) ? { ok: true, value: trimmed } : { ok: false, message: `expected one of ${model.options.join(', ')}` };
    case 'list': {
      const items = trimmed.split(/[\n,]+/).map((item) => item.trim()).filter(Boolean);
      if (model.itemKind === 'string') return { ok: true, value: items };
      const numbers = items.map(Number);
      if (numbers.some((value) => !Number.isFinite(value) || (model.itemKind === 'integer' && !Number.isInteger(value)))) return { ok: false, message: 'expected numbers, one a line' };
      return { ok: true, value: numbers };
    }
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

/** The saved configuration with the admin's edits (only the keys they touched); local problems by key. */
export function applyDrafts(saved: ConfigObject, models: readonly KeyModel[], drafts: Readonly<Record<string, string | boolean>>): { config: ConfigObject; problems: Record<string, string> } {
  let config = saved;
  const problems: Record<string, string> = {};
  const byKey = new Map(models.map((model) => [model.key, model]));
  for (const [key, draft] of Object.entries(drafts)) {
    const model = byKey.get(key);
    if (!model) continue;
    const result = draftToValue(model, draft);
    if (!result.ok) problems[key] = result.message;
    else config = putPath(config, key, result.value);
  }
  return { config, problems };
}

/** The keys whose edited value differs from the saved one (for "3 unsaved changes"). */
export function changedKeys(saved: ConfigObject, models: readonly KeyModel[], drafts: Readonly<Record<string, string | boolean>>): string[] {
  const byKey = new Map(models.map((model) => [model.key, model]));
  return Object.entries(drafts)
    .filter(([key, draft]) => {
      const model = byKey.get(key);
      return model ? valueToDraft(model, getPath(saved, key)) !== draft : false;
    })
    .map(([key]) => key);
}

/** The issue paths a key's input shows: its own and everything under it ("mx.dnsbl.zones.0.zone" -> "mx.dnsbl.zones"). */
export function keyForIssue(path: string, models: readonly KeyModel[]): string | null {
  let best: string | null = null;
  for (const model of models) if ((path === model.key || path.startsWith(`${model.key}.`)) && (!best || model.key.length > best.length)) best = model.key;
  return best;
}
