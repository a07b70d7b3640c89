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

/** `2001:db8::1` -> `2001:0db8:0000:...:0001` (an embedded dotted IPv4 tail becomes two groups). */
export function expandIPv6(ip: string): string {
  let text = ip.toLowerCase();
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((group) => group.padStart(4, '0')).join(':');
}

/** IPv4-mapped IPv6 (`::ffff:192.0.2.1`) is the IPv4 client it carries. */
export function normalizeClientIp(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return mapped ? mapped[1]! : ip;
}

/**
 * Who a client is for a per-client count: an IPv4 address (IPv4-mapped IPv6 turned into it), or the /64 an IPv6
 * address is in (one site gets a /64 and may use any address in it).
 */
export function clientKey(address: string): string {
  const ip = normalizeClientIp(address);
  if (!isIPv6(ip)) return ip;
  return `${expandIPv6(ip).split(':').slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16)).join(':')}::/64`;
}
