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

/** Private address space (loopback, RFC 1918, link-local, CGNAT; IPv6 loopback, ULA, link-local). */
const PRIVATE_BLOCKS: readonly Cidr[] = [
  ...['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10', '::1/128', 'fc00::/7', 'fe80::/10'].map((text) => parseCidr(text)!),
];
/** IPv6 forms that carry IPv4 addresses (mapped, compatible, NAT64 and its local-use /48): IPv4 is written as IPv4. */
const IPV4_IN_IPV6: readonly Cidr[] = ['::ffff:0:0/96', '::/96', '64:ff9b::/96', '64:ff9b:1::/48'].map((text) => parseCidr(text)!);
/**
 * Addresses no mail host on the internet has: the private blocks, "this network" (0/8, ::), multicast, the reserved
 * 240/4 with broadcast, IPv6's old site-local block and multicast. An MX record may point anywhere; these would reach the office's own network.
 */
const NON_PUBLIC = new BlockList();
for (const cidr of [...PRIVATE_BLOCKS, ...['0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4', '::/128', 'fec0::/10', 'ff00::/8'].map((text) => parseCidr(text)!)]) {
  NON_PUBLIC.addSubnet(cidr.address, cidr.prefix, cidr.family);
}

/** Whether `ip` is outside the public internet (IPv4 carried in IPv6 is judged as that IPv4; local-use NAT64 is private). */
export function isNonPublicAddress(ip: string): boolean {
  if (isIPv4(ip)) return NON_PUBLIC.check(ip, 'ipv4');
  if (!isIPv6(ip)) return true;
  const address: Cidr = { address: ip, prefix: 128, family: 'ipv6' };
  const carrier = IPV4_IN_IPV6.find((block) => within(address, block));
  if (carrier?.prefix === 96) {
    const [high, low] = expandIPv6(ip).split(':').slice(6).map((group) => Number.parseInt(group, 16)) as [number, number];
    return NON_PUBLIC.check(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, 'ipv4');
  }
  return carrier !== undefined || NON_PUBLIC.check(ip, 'ipv6');
}

/** Widest public network a trusted network may be: a /24 of IPv4, a /48 of IPv6 (one site). */
export const WIDEST_PUBLIC_TRUSTED = { ipv4: 24, ipv6: 48 } as const;

/** Whether all of `cidr` lies in `block`. */
function within(cidr: Cidr, block: Cidr): boolean {
  if (cidr.family !== block.family || cidr.prefix < block.prefix) return false;
  const list = new BlockList();
  list.addSubnet(block.address, block.prefix, block.family);
  return list.check(cidr.address, cidr.family);
}

/** Whether `cidr` overlaps `block` at all. */
function overlaps(cidr: Cidr, block: Cidr): boolean {
  if (cidr.family !== block.family) return false;
  return within(cidr, block) || within(block, cidr);
}

/**
 * Why a network may not be trusted to send anywhere without logging in, or null: a public network wider than one
 * site (0.0.0.0/0 would make the submission listeners an open relay), or IPv4 written as IPv6.
 */
export function trustedNetworkProblem(value: string): string | null {
  const cidr = parseCidr(value);
  if (!cidr) return 'expected a network like 192.168.1.0/24, 2001:db8::/48 or one address';
  if (PRIVATE_BLOCKS.some((block) => within(cidr, block))) return null;
  const widest = WIDEST_PUBLIC_TRUSTED[cidr.family];
  if (cidr.prefix < widest) {
    return `${value} is too wide: whoever is in a trusted network can send anywhere without logging in, so a network outside the private ranges (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, fc00::/7, fe80::/10, ::1) may be at most a /${widest}`;
  }
  if (cidr.family === 'ipv6' && IPV4_IN_IPV6.some((block) => overlaps(cidr, block))) return `${value} holds IPv4 addresses written as IPv6: write the IPv4 network itself`;
  return null;
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
