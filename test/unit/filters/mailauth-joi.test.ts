// mailauth's two joi checks without joi (filters/mailauth-joi.ts): mailauth really gets the stand-in and acts on its
// verdicts, and the stand-in agrees with joi 18.2.1 itself on hand-picked and on random input. Nothing here may load
// joi before the first check: the stand-in goes in only where joi is not loaded yet.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { SenderAuthFilter, type AuthResolver } from '../../../src-relay/filters/sender-auth.ts';
import { JOI_STAND_IN } from '../../../src-relay/filters/mailauth-joi.ts';
import { fixtureResolver } from '../../helpers/relay.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const require = createRequire(import.meta.url);
const joiPath = createRequire(require.resolve('mailauth/lib/tools.js')).resolve('joi');
const dir = tempDir('moat-joi-');
after(() => rmSync(dir, { recursive: true, force: true }));

const KEY = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const TXT: Record<string, string[]> = {
  'sender.test': ['v=spf1 ip4:192.0.2.10 -all'],
  'good._domainkey.sender.test': [`v=DKIM1; k=rsa; p=${KEY}`],
  'bad._domainkey.sender.test': [`v=DKIM1; k=rsa; p=${KEY.slice(0, 40)}*${KEY.slice(41)}`],
};
const resolver = fixtureResolver({}, {}, TXT) as AuthResolver;

async function spf(sender: string): Promise<string> {
  const path = join(dir, sender.replace(/\W/g, '_'));
  // the envelope sender is what SPF checks; the From is a good one (DMARC leaves a From it cannot read unchecked)
  writeFileSync(path, `From: <alice@sender.test>\r\nSubject: joi\r\n\r\nHello.\r\n`);
  const filter = new SenderAuthFilter({ resolver, hostname: 'relay.example.test', dmarcReject: 'reject', dmarcQuarantine: 'quarantine', scores: { spfFail: 2, spfSoftfail: 0.5, dkimFail: 1, dmarcFail: 2 } });
  const context = { queueId: 'JOI', clientIp: '192.0.2.10', helo: 'client.test', sender, recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null };
  const result = await filter.check(context, AbortSignal.timeout(10_000));
  return result.headers?.find((header) => header.name === 'Authentication-Results')?.value ?? '';
}

test('mailauth loads with the stand-in in place of joi, and its SPF check acts on the domain verdict', async () => {
  assert.equal(require.cache[joiPath], undefined, 'joi must not be loaded before the first check');
  assert.match(await spf('alice@sender.test'), /\bspf=pass\b/);
  assert.equal((require.cache[joiPath] as NodeModule | undefined)?.exports, JOI_STAND_IN, 'mailauth got the stand-in');
  // an envelope domain that is not a domain name: SPF none, and no DNS question is asked for it
  assert.match(await spf('alice@-sender.test'), /\bspf=none\b/);
  assert.match(await spf('alice@sender'), /\bspf=none\b/);
});

test("mailauth's DKIM key look-up refuses a p= value that is not base64, and takes a good one", async () => {
  const tools = require('mailauth/lib/tools.js') as { getPublicKey: (type: string, name: string, bits: number, resolver: unknown) => Promise<unknown> };
  const lookup = (name: string, type: string) => resolver.resolveTxt(name).then((records) => (type === 'TXT' ? records : []));
  await assert.doesNotReject(tools.getPublicKey('DKIM', 'good._domainkey.sender.test', 1024, lookup));
  await assert.rejects(tools.getPublicKey('DKIM', 'bad._domainkey.sender.test', 1024, lookup), /Invalid base64 format for public key/);
});

test('the stand-in refuses options it was not written for, so a changed mailauth fails loudly at load', () => {
  assert.throws(() => JOI_STAND_IN.string().base64({ paddingRequired: true }), /knows only \{"paddingRequired":false\}/);
  assert.throws(() => JOI_STAND_IN.string().domain({ allowUnicode: false }), /knows only/);
});

/** Random strings over `alphabet`, the same every run. */
function* randomStrings(alphabet: string[], count: number, maxLength: number, seed: number): Generator<string> {
  let state = seed;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < count; i++) {
    const length = Math.floor(next() * (maxLength + 1));
    yield Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
  }
}

test('the stand-in agrees with joi 18.2.1 on domain names and base64, hand-picked and random', () => {
  const standIn = require.cache[joiPath];
  delete require.cache[joiPath];
  const joi = require(joiPath) as typeof JOI_STAND_IN & { version: string };
  if (standIn) require.cache[joiPath] = standIn;
  assert.equal(joi.version, '18.2.1', 'the stand-in was written after this version');
  const pairs = [
    { name: 'domain', real: joi.string().domain({ allowUnicode: false, tlds: false }), ours: JOI_STAND_IN.string().domain({ allowUnicode: false, tlds: false }) },
    { name: 'base64', real: joi.string().base64({ paddingRequired: false }), ours: JOI_STAND_IN.string().base64({ paddingRequired: false }) },
  ];
  const long = (n: number) => `${'a'.repeat(n - 5)}.test`;
  const picked: unknown[] = [
    undefined, null, 0, 42, true, {}, [], '', ' ', '.', '..', 'a', 'a.', '.a', 'a.b', 'a..b', 'example.com', 'EXAMPLE.COM', 'ex-ample.com',
    '-example.com', 'example-.com', 'example.-com', 'example.com-', 'example.c0m', 'example.0com', 'example.com.', 'a.b.c.d.e',
    'xn--bcher-kva.example', 'xn--.example', 'xn--zz.example', 'ex_ample.com', 'ex ample.com', 'exämple.com', 'example.com\n',
    '\texample.com', 'ex%41mple.com', 'ex%zzmple.com', 'a%2eb.com', '1.2.3.4', '0x7f.1', '127.1', '1.2.3.com', '[::1]', 'a:b.com',
    'example.com:25', 'a@b.com', 'a/b.com', 'a\\b.com', 'a#b.com', 'a?b.com', 'a\0b.com', `${'a'.repeat(63)}.com`,
    `${'a'.repeat(64)}.com`, long(255), long(256), long(257), `${'a.'.repeat(127)}b`, `${'ab.'.repeat(85)}a`, `${'ab.'.repeat(85)}ab`,
    '1.2.3.4.', 'a.1.', 'a.0x1f', 'A.B.C', '0X7F.0X1', 'ａ.com', 'example.xn--p1ai',
    'YWJj', 'YWJjZA', 'YWJjZA=', 'YWJjZA==', 'YWJjZA===', 'YWI=', 'YWI', 'YQ', 'YQ=', 'YQ==', 'Y', 'Y===', '====', 'YW Jj',
    'YWJj\n', 'YW-_', 'YW+/', KEY, KEY.replace(/=+$/, ''), `${KEY}=`, `${KEY.slice(0, 40)}*${KEY.slice(41)}`,
  ];
  const domainChars = [...'abcxnz-.09AZ_%:[] @\t', 'ä', '.', '.', '-', '1', 'xn--', '%2e', '%41', '0x'];
  const base64Chars = [...'AZaz09+/=-_ \n.', '=', 'A', 'b'];
  const inputs = [
    ...picked,
    ...randomStrings(domainChars, 20_000, 24, 1),
    ...randomStrings(base64Chars, 20_000, 14, 2),
  ];
  let compared = 0;
  for (const { name, real, ours } of pairs) {
    for (const input of inputs) {
      const expected = Boolean(real.validate(input).error);
      assert.equal(Boolean(ours.validate(input).error), expected, `${name}(${JSON.stringify(input)}): joi says ${expected ? 'invalid' : 'valid'}`);
      compared++;
    }
  }
  assert.ok(compared > 80_000);
});
