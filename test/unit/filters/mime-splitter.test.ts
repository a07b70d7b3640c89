import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Splitter, type MimeNode, type SplitterChunk } from 'mailsplit';
import { MimeSplitter } from '../../../src-relay/filters/mime-splitter.ts';

type Config = { maxHeadSize?: number; maxChildNodes?: number };

/** Everything a splitter hands on, in order, as text: nodes with their headers, chunks with their bytes; then how it ended. */
async function split(make: (config: Config) => Transform, config: Config, chunks: Buffer[]): Promise<string> {
  const nodes: MimeNode[] = [];
  const out: string[] = [];
  const sink = new Writable({
    objectMode: true,
    write(item: MimeNode | SplitterChunk, _encoding, callback) {
      if (item.type === 'node') {
        nodes.push(item);
        out.push(`node ${item.contentType} ${String(item.multipart)} ${String(item.messageNode)} ${item.headers.getList().map(({ line }) => line).join('|')}`);
      } else {
        out.push(`${item.type} @${nodes.indexOf(item.node)} ${JSON.stringify(item.value?.toString('latin1'))}`);
      }
      callback();
    },
  });
  try {
    await pipeline(Readable.from(chunks, { objectMode: false }), make(config), sink);
    out.push('end');
  } catch (error) {
    out.push(`error ${(error as Error & { code?: string }).code} ${(error as Error).message}`);
  }
  return out.join('\n');
}

const crlf = (text: string) => text.replace(/\n/g, '\r\n');
const MESSAGES: { name: string; text: string; config?: Config }[] = [
  { name: 'plain CRLF', text: crlf('From: a@x.test\nSubject: hi\n\nHello.\n\nBye.\n') },
  { name: 'bare LF, no final line end', text: 'From: a@x.test\nSubject: hi\n\nHello.\nBye.' },
  { name: 'header only', text: crlf('From: a@x.test\nSubject: hi\n') },
  {
    name: 'multipart with attachment',
    text: crlf(
      'From: a@x.test\nContent-Type: multipart/mixed; boundary="b1"\n\npreamble\n--b1\nContent-Type: text/plain\n\nbody one\n\n--b1\n' +
        'Content-Type: application/octet-stream; name="a.exe"\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\nTVqQAAMAAAAEAAAA\n--b1--\nepilogue\n',
    ),
  },
  {
    name: 'nested multipart and an inline message',
    text: crlf(
      'Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\n' +
        'Content-Type: text/plain\n\nplain\n--inner\nContent-Type: text/html\n\n<p>html</p>\n--inner--\n--outer\n' +
        'Content-Type: message/rfc822\nContent-Disposition: inline\n\nFrom: b@y.test\nContent-Type: multipart/mixed; boundary=deep\n\n' +
        '--deep\nContent-Type: text/plain\n\ndeep text\n--deep--\n--outer--\n',
    ),
  },
  { name: 'mixed line ends and a header-only part', text: 'Content-Type: multipart/mixed; boundary=m\r\n\n--m\nX-A: 1\r\n--m\r\nContent-Type: text/plain\n\r\nx\r\r\n--m--' },
  { name: 'a boundary that closes a part with only a header', text: crlf('Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\n--q--\n') },
  { name: 'too many parts', text: crlf(`Content-Type: multipart/mixed; boundary=z\n\n${'--z\n\nx\n'.repeat(6)}--z--\n`), config: { maxChildNodes: 3 } },
  { name: 'a header block past its limit', text: crlf(`From: a@x.test\nX-Long: ${'y'.repeat(120)}\n\nbody\n`), config: { maxHeadSize: 64 } },
];

test('the one-pass splitter hands on exactly what mailsplit does, on every cut of every message into two or three chunks', async () => {
  let compared = 0;
  for (const { name, text, config = {} } of MESSAGES) {
    const message = Buffer.from(text, 'latin1');
    const cutsList: number[][] = [[]];
    for (let a = 1; a < message.length; a++) cutsList.push([a]);
    for (let a = 1; a < message.length; a += 7) for (let b = a + 1; b < message.length; b += 5) cutsList.push([a, b]);
    for (const cuts of cutsList) {
      const chunks: Buffer[] = [];
      let at = 0;
      for (const cut of [...cuts, message.length]) {
        chunks.push(message.subarray(at, cut));
        at = cut;
      }
      const expected = await split((c) => new Splitter(c), config, chunks);
      assert.equal(await split((c) => new MimeSplitter(c), config, chunks), expected, `${name}, cut at ${cuts.join(', ')}`);
      compared++;
    }
  }
  assert.ok(compared > 5000, `compared ${compared} cuts`);
});

test('the one-pass splitter ends every message above the way mailsplit does (a case list that covers both endings)', async () => {
  const endings = new Set<string>();
  for (const { text, config = {} } of MESSAGES) {
    const outcome = (await split((c) => new MimeSplitter(c), config, [Buffer.from(text, 'latin1')])).split('\n').at(-1) ?? '';
    endings.add(outcome.split(' ').slice(0, 2).join(' '));
  }
  assert.deepEqual([...endings].sort(), ['end', 'error EMAXLEN']);
});

test('a chunk of many lines is split in one pass: no turn of the event loop between its lines', async () => {
  const splitter = new MimeSplitter();
  let items = 0;
  splitter.on('data', () => items++);
  const body = 'line\r\n'.repeat(5000);
  splitter.write(Buffer.from(`Subject: many\r\n\r\n${body}--x\r\n`));
  // mailsplit would have handed on one line by now; the one-pass splitter has handed on the whole chunk
  await new Promise<void>((resolve) => setImmediate(resolve));
  const seen = items;
  splitter.end();
  await new Promise<void>((resolve) => splitter.on('end', resolve));
  assert.ok(seen >= 2, `handed on ${seen} items within one turn`);
  assert.equal(items, seen, 'nothing left for later turns but the end');
});

test('a mailsplit that answered a line later would fail the walk with a clear error, not crash or guess', async () => {
  class LateSplitter extends MimeSplitter {
    processLine(line: Buffer, final: boolean, next: (...args: unknown[]) => void): void {
      const parent = Splitter.prototype as unknown as { processLine(line: Buffer, final: boolean, next: (...args: unknown[]) => void): void };
      setImmediate(() => parent.processLine.call(this, line, final, next));
    }
  }
  const outcome = await split(() => new LateSplitter(), {}, [Buffer.from('Subject: late\r\n\r\nbody\r\n')]);
  assert.match(outcome, /error undefined mailsplit answered a line asynchronously/);
});
