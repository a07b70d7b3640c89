/**
 * The DNS look-ups Moat makes (delivery's MX and address look-ups, the filters' TXT and PTR, the connection policy's
 * block lists): node:dns's promises API fits it; tests pass their own so no real DNS is ever asked.
 */
export interface Resolver {
  resolveMx(domain: string): Promise<{ exchange: string; priority: number }[]>;
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
  /** TXT records, each as its character-strings (SPF, DKIM keys, DMARC: filters/sender-auth.ts); node:dns has it. */
  resolveTxt?(name: string): Promise<string[][]>;
  /** PTR records (SPF's "ptr" mechanism); without it such look-ups find nothing. */
  resolvePtr?(name: string): Promise<string[]>;
}
