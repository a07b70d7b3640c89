// The sender-auth filter's settings in the unit tests, over their fixture DNS.
import type { AuthResolver, SenderAuthOptions } from '../../src-relay/filters/sender-auth.ts';
import { fixtureResolver } from './relay.ts';

/** SPF allows 192.0.2.10 only; strict.test publishes p=reject, careful.test p=quarantine. `more`: further TXT records. */
export function senderAuthOptions(more: Record<string, string[]> = {}): SenderAuthOptions & { resolver: AuthResolver } {
  const txt: Record<string, string[]> = {
    'sender.test': ['v=spf1 ip4:192.0.2.10 -all'],
    'strict.test': ['v=spf1 ip4:192.0.2.10 -all'],
    '_dmarc.strict.test': ['v=DMARC1; p=reject; rua=mailto:dmarc@strict.test'],
    'careful.test': ['v=spf1 ip4:192.0.2.10 -all'],
    '_dmarc.careful.test': ['v=DMARC1; p=quarantine'],
    ...more,
  };
  return {
    resolver: fixtureResolver({}, {}, txt) as AuthResolver,
    hostname: 'relay.example.test',
    dmarcReject: 'reject',
    dmarcQuarantine: 'quarantine',
    scores: { spfFail: 2, spfSoftfail: 0.5, dkimFail: 1, dmarcFail: 2 },
  };
}
