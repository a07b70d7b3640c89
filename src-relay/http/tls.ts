import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.ts';

/** The admin listener's HTTPS pair: its own files, else the inbound listener's pair; null when HTTPS is off. */
export function adminTlsPair(config: Config, inbound: () => Promise<{ cert: Buffer; key: Buffer }>): Promise<{ cert: Buffer; key: Buffer } | null> {
  const { enabled, cert, key } = config.admin.tls;
  if (!enabled) return Promise.resolve(null);
  if (cert && key) return Promise.resolve({ cert: readFileSync(cert), key: readFileSync(key) });
  return inbound();
}
