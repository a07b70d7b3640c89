// Run as its own process (a fresh one, so mailauth is not loaded yet): a sender-authentication check whose deadline
// passes at once, while mailauth's modules are still loading. Prints how the check ended; an unhandled error in the
// message stream would end the process with an uncaught exception instead.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SenderAuthFilter, type AuthResolver } from '../../src-relay/filters/sender-auth.ts';
import { refusingResolver } from './relay.ts';
import { tempDir } from './temp-dir.ts';

const raw = Buffer.from('From: <alice@sender.test>\r\nSubject: cold\r\n\r\nHello.\r\n');
const path = join(tempDir('moat-cold-'), 'message');
writeFileSync(path, raw);
const form = process.argv[2] === 'file' ? {} : { content: raw };
const filter = new SenderAuthFilter({ resolver: refusingResolver as AuthResolver, hostname: 'relay.example.test', dmarcReject: 'reject', dmarcQuarantine: 'quarantine', scores: { spfFail: 2, spfSoftfail: 0.5, dkimFail: 1, dmarcFail: 2 } });
const deadline = new AbortController();
const context = { queueId: 'COLD', clientIp: '192.0.2.10', helo: 'client.test', sender: 'alice@sender.test', recipients: ['bob@example.test'], path, size: raw.length, headers: [], tls: false, authenticatedUser: null, ...form };
const checking = filter.check(context, deadline.signal);
deadline.abort(new Error('deadline'));
const outcome = await checking.then(() => 'resolved', (error: Error) => `rejected: ${error.message}`);
// give a stray stream error every chance to surface before saying how it ended
await new Promise((resolve) => setTimeout(resolve, 200));
console.log(outcome);
