import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { dkimSigned } from '../../helpers/dkim-sign.ts';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { headerEnd, installHeaderScan } from '../../../src-relay/filters/mailauth-header-scan.ts';

const require = createRequire(import.meta.url);
const { MessageParser } = require('mailauth/lib/dkim/message-parser.js') as { MessageParser: { prototype: { processChunk: (chunk: Buffer) => Promise<void> } } };
const { parseHeaders } = require('mailauth/lib/tools.js') as { parseHeaders: (block: Buffer) => unknown };

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
const record = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
const resolver = async (name: string) => {
  if (name === 'sel._domainkey.scan.test') return [[record]];
  throw Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
};

async function signed(message: string): Promise<string> {
  // a fixed past time: mailauth rounds "now" to the second, so a fresh signature can lie up to 0.5 s in the future
  // and its signatureTimeValid would flip between the two verifications compared below
  return dkimSigned(message, { domain: 'scan.test', selector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }, new Date('2026-01-01T00:00:00Z'));
}

/** The messages: ordinary CRLF, bare LF, a header block with no body, no empty line at all, an empty header block, mixed line ends. */
async function messages(): Promise<string[]> {
  const head = 'From: <a@scan.test>\r\nTo: <b@example.test>\r\nSubject: scan\r\n';
  return [
    await signed(`${head}\r\nHello.\r\n\r\nSecond paragraph.\r\n`),
    (await signed(`${head}\r\nBare line ends.\r\n`)).replace(/\r\n/g, '\n'),
    await signed(`${head}\r\n`),
    head,
    '\r\nno header at all\r\n',
    `${head.replace(/\r\n/g, '\n')}\r\n\nmixed\n\r\n`,
    `X: a\n\r\nbody\r\n`,
  ];
}

/** dkimVerify over the message cut into the given chunks: what it found, headers included. */
async function verify(message: Buffer, cuts: number[]): Promise<string> {
  const chunks: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, message.length]) {
    chunks.push(message.subarray(at, cut));
    at = cut;
  }
  const result = await dkimVerify(Readable.from(chunks.filter((chunk) => chunk.length > 0), { objectMode: false }), { resolver, sender: 'a@scan.test' } as never);
  return JSON.stringify({ ...result, headers: (result as { headers?: unknown }).headers });
}

test("the header scan ends the header block where mailauth's own does, on every cut of every message into two or three chunks", async () => {
  const prototype = MessageParser.prototype;
  const before = prototype.processChunk;
  const original = installHeaderScan(prototype, parseHeaders);
  const scan = prototype.processChunk;
  try {
    let compared = 0;
    for (const text of await messages()) {
      const message = Buffer.from(text);
      const cutsList: number[][] = [[]];
      for (let a = 1; a < message.length; a++) cutsList.push([a]);
      for (let a = 1; a < Math.min(message.length, 80); a += 3) for (let b = a + 1; b < Math.min(message.length, 80); b += 2) cutsList.push([a, b]);
      for (const cuts of cutsList) {
        prototype.processChunk = original;
        const expected = await verify(message, cuts);
        prototype.processChunk = scan;
        assert.equal(await verify(message, cuts), expected, `cut at ${cuts.join(', ')} of ${JSON.stringify(text.slice(0, 40))}`);
        compared++;
      }
    }
    assert.ok(compared > 2000, `compared ${compared} cuts`);
  } finally {
    prototype.processChunk = before;
  }
});

test('headerEnd: the LF of the first empty line, also when the end is cut across chunks', () => {
  const bytes = (text: string) => Buffer.from(text);
  assert.equal(headerEnd(bytes('A: 1\r\n\r\nbody'), []), 7);
  assert.equal(headerEnd(bytes('A: 1\n\nbody'), []), 5);
  assert.equal(headerEnd(bytes('A: 1\r\nB: 2\r\n'), []), -1);
  assert.equal(headerEnd(bytes('\nbody'), [...bytes('A: 1\r\n\r')]), 0, 'CRLF CR | LF');
  assert.equal(headerEnd(bytes('\r\nbody'), [...bytes('\n')]), 1, 'LF | CR LF');
  assert.equal(headerEnd(bytes('\nbody'), [...bytes('\n')]), 0, 'LF | LF');
  assert.equal(headerEnd(bytes('\n'), [...bytes('A: 1\r')]), -1, 'one line end, not an empty line');
  assert.equal(headerEnd(bytes('\r\n'), []), -1, 'a lone CRLF at the start is no end (mailauth needs an LF before it)');
});
