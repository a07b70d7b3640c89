import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** "10.0.0.0/8", "2001:db8::/32", or one address ("192.168.1.10" is /32, "::1" is /128); null when malformed. */
export function parseCidr(value: string): Cidr | null {
  if (typeof value !== 'string') return null;
  const [address, prefixText, extra] = value.trim().split('/');
  if (address === undefined || extra !== undefined) return null;
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (!family) return null;
  const max = family === 'ipv4' ? 32 : 128;
  if (prefixText === undefined) return { address, prefix: max, family };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return null;
  return { address, prefix: Number(prefixText), family };
}

/** The networks whose clients may send on the submission listeners without AUTH (never on the mx listener). */
export class TrustedNetworks {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    let size = 0;
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`not a network: ${JSON.stringify(text)}`);
      this.list.addSubnet(cidr.address, cidr.prefix, cidr.family);
      size++;
    }
    this.size = size;
  }

  /** `ip` as smtp-server gives it (IPv4-mapped IPv6 already turned into plain IPv4). */
  has(ip: string): boolean {
    if (this.size === 0) return false;
    if (isIPv4(ip)) return this.list.check(ip, 'ipv4');
    if (isIPv6(ip)) return this.list.check(ip, 'ipv6');
    return false;
  }
}

/**
 * Who a client is for a per-client count: an IPv4 address (IPv4-mapped IPv6 turned into it), or the /64 an IPv6
 * address is in (one site gets a /64 and may use any address in it).
 */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::', 2) as [string, string?];
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  // an embedded IPv4 tail (::1.2.3.4) counts as two groups; /64 only needs the first four
  const groups = ip.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((group) => Number.parseInt(group || '0', 16).toString(16)).join(':')}::/64`;
}
