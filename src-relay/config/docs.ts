import { z } from 'zod';
import { ConfigSchema } from './schema.ts';
import { CONFIG_FIELDS, type FieldMeta } from './fields.ts';

export interface ConfigKeyDoc {
  key: string;
  type: string;
  default: string;
  description: string;
}

/** A key with how a person sees it (fields.ts): what the settings page and the wizard read. */
export type ConfigFieldDoc = ConfigKeyDoc & Omit<FieldMeta, 'unit' | 'choices' | 'test' | 'emptyRemoves'> & {
  unit: NonNullable<FieldMeta['unit']> | null;
  choices: Record<string, string> | null;
  test: NonNullable<FieldMeta['test']> | null;
  emptyRemoves: string | null;
  /** Allowed values of a choice, from the schema. */
  options: string[];
};

interface JsonSchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  items?: JsonSchemaNode;
  properties?: Record<string, JsonSchemaNode>;
  anyOf?: JsonSchemaNode[];
}

/** Every configuration key with its type, default and description, read from the schema itself (one source). */
export function configKeys(): ConfigKeyDoc[] {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const defaults = ConfigSchema.parse({}) as Record<string, unknown>;
  const keys: ConfigKeyDoc[] = [];
  const walk = (node: JsonSchemaNode, path: string[], parentDescription?: string) => {
    const object = node.properties ? node : node.anyOf?.find((option) => option.properties);
    if (object?.properties) {
      for (const [name, child] of Object.entries(object.properties)) walk(child, [...path, name], node.description);
      return;
    }
    const resolved = path.reduce<unknown>((at, name) => (at as Record<string, unknown> | undefined)?.[name], defaults);
    const value = resolved ?? node.default;
    keys.push({
      key: path.join('.'),
      type: typeName(node),
      default: value === undefined ? '—' : JSON.stringify(value),
      description: node.description ?? parentDescription ?? '',
    });
  };
  walk(schema, []);
  return keys;
}

/** The key table with each key's group, label, unit and control, in the page's order (fields.ts); a key fields.ts misses shows raw, as JSON, last (a unit test keeps that from happening). */
export function configFields(): ConfigFieldDoc[] {
  const order = Object.keys(CONFIG_FIELDS);
  const position = (key: string) => (order.includes(key) ? order.indexOf(key) : order.length);
  const keys = configKeys().sort((a, b) => position(a.key) - position(b.key));
  return keys.map((doc) => {
    const meta: FieldMeta = CONFIG_FIELDS[doc.key] ?? { group: 'admin', section: 'Other', label: doc.key, control: 'json' };
    return {
      ...doc,
      group: meta.group,
      section: meta.section,
      label: meta.label,
      control: meta.control,
      unit: meta.unit ?? null,
      choices: meta.choices ? { ...meta.choices } : null,
      test: meta.test ?? null,
      emptyRemoves: meta.emptyRemoves ?? null,
      options: [...doc.type.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1]!),
    };
  });
}

function typeName(node: JsonSchemaNode): string {
  if (node.enum) return node.enum.map((value) => JSON.stringify(value)).join(' \\| ');
  if (node.type === 'array') return `${typeName(node.items ?? {})}[]`;
  if (node.type === 'integer') return 'integer';
  return Array.isArray(node.type) ? node.type.join(' \\| ') : (node.type ?? 'any');
}

/** The README's configuration table. */
export function configTable(): string {
  const rows = configKeys().map((doc) => `| \`${doc.key}\` | ${doc.type} | \`${doc.default}\` | ${doc.description} |`);
  return ['| key | type | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
