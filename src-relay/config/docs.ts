import { z } from 'zod';
import { ConfigSchema } from './schema.ts';

export interface ConfigKeyDoc {
  key: string;
  type: string;
  default: string;
  description: string;
}

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
