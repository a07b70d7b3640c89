import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import {
  endsWithZip,
  listZip,
  MAX_INFLATE_BYTES,
  MAX_NESTED_ZIP_BYTES,
  MAX_ZIP_DEPTH,
  MAX_ZIP_MEMBERS,
  MAX_ZIP_UNCOMPRESSED_BYTES,
} from '../../../src-relay/filters/zip.ts';
import { makeZip, nestedZip, peExecutable, zipOfSize } from '../../helpers/mail-parts.ts';

const list = (zip: Buffer) => listZip(zip, zip.length);
const exe = { name: 'setup.exe', data: peExecutable() };

test('the zip limits are the documented ones', () => {
  assert.equal(MAX_ZIP_DEPTH, 3);
  assert.equal(MAX_ZIP_MEMBERS, 2000);
  assert.equal(MAX_ZIP_UNCOMPRESSED_BYTES, 400 * 1024 * 1024);
  assert.equal(MAX_NESTED_ZIP_BYTES, 1024 * 1024);
  assert.equal(MAX_INFLATE_BYTES, 4 * 1024 * 1024);
});

test('zips inside a zip are opened, stored or deflated, and their members listed as "inner.zip/name"', () => {
  const inner = makeZip([exe]);
  const listing = list(makeZip([{ name: 'readme.txt', data: 'hi' }, { name: 'a.zip', data: inner }, { name: 'b.ZIP', data: inner, deflate: true }]));
  assert.equal(listing.problem, null);
  assert.deepEqual(
    listing.members.map((member) => member.name),
    ['readme.txt', 'a.zip', 'a.zip/setup.exe', 'b.ZIP', 'b.ZIP/setup.exe'],
  );
});

test(`zips nested ${MAX_ZIP_DEPTH} deep are listed to the bottom; one level more is a problem, not a pass`, () => {
  const under = list(nestedZip(MAX_ZIP_DEPTH, [exe]));
  assert.equal(under.problem, null);
  assert.ok(under.members.some((member) => member.name === 'l2.zip/l3.zip/setup.exe'));
  const over = list(nestedZip(MAX_ZIP_DEPTH + 1, [exe]));
  assert.match(over.problem ?? '', new RegExp(`"l4\\.zip": zips nested more than ${MAX_ZIP_DEPTH} deep`));
});

test(`${MAX_ZIP_MEMBERS} members are listed; one more, nested ones counted too, is a problem`, () => {
  const names = (count: number) => Array.from({ length: count }, (_, i) => ({ name: `f${i}.txt`, data: '' }));
  assert.equal(list(makeZip(names(MAX_ZIP_MEMBERS))).problem, null);
  assert.match(list(makeZip(names(MAX_ZIP_MEMBERS + 1))).problem ?? '', /more than 2000 members/);
  const nested = list(makeZip([...names(MAX_ZIP_MEMBERS - 2), { name: 'in.zip', data: makeZip(names(2)) }]));
  assert.match(nested.problem ?? '', /more than 2000 members/);
});

test('declared sizes adding up to the uncompressed limit pass; one byte more is a zip bomb, whatever the data', () => {
  const half = MAX_ZIP_UNCOMPRESSED_BYTES / 2;
  assert.equal(list(makeZip([{ name: 'a.bin', data: 'x', declaredSize: half }, { name: 'b.bin', data: 'x', declaredSize: half }])).problem, null);
  const over = list(makeZip([{ name: 'a.bin', data: 'x', declaredSize: half }, { name: 'b.bin', data: 'x', declaredSize: half + 1 }]));
  assert.match(over.problem ?? '', /more than 419430400 bytes uncompressed/);
});

test(`a nested zip of ${MAX_NESTED_ZIP_BYTES} bytes is opened; one byte larger is not, and that is a problem`, () => {
  const under = list(makeZip([{ name: 'in.zip', data: zipOfSize(MAX_NESTED_ZIP_BYTES, [exe]), deflate: true }]));
  assert.equal(under.problem, null);
  assert.ok(under.members.some((member) => member.name === 'in.zip/setup.exe'));
  const over = list(makeZip([{ name: 'in.zip', data: zipOfSize(MAX_NESTED_ZIP_BYTES + 1, [exe]), deflate: true }]));
  assert.match(over.problem ?? '', /"in\.zip" is larger than 1048576 bytes and is not opened/);
});

test('a 1 GB zip bomb is never inflated: a declared 1 GB is refused unread, a lying small size stops zlib at it', () => {
  const started = process.hrtime.bigint();
  const declared = list(makeZip([{ name: 'bomb.zip', data: 'x', declaredSize: 1024 ** 3 }]));
  assert.match(declared.problem ?? '', /uncompressed \(a zip bomb\?\)/);
  // 64 MiB of zeros deflate to 64 KiB; the entry says 1000 bytes, so inflating stops there
  const lying = deflateRawSync(Buffer.alloc(64 * 1024 * 1024));
  assert.match(list(makeZipRaw('bomb.zip', lying, 1000)).problem ?? '', /"bomb\.zip" cannot be inflated \(damaged, or larger than it says\)/);
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'listing the bombs took no real work');
});

test(`nested archives share the message's ${MAX_INFLATE_BYTES}-byte inflate budget: the last one past it is a problem`, () => {
  const inner = zipOfSize(MAX_NESTED_ZIP_BYTES, [exe]);
  const four = Array.from({ length: MAX_INFLATE_BYTES / MAX_NESTED_ZIP_BYTES }, (_, i) => ({ name: `i${i}.zip`, data: inner, deflate: true }));
  assert.equal(list(makeZip(four)).problem, null);
  const over = list(makeZip([...four, { name: 'last.zip', data: makeZip([exe]), deflate: true }]));
  assert.match(over.problem ?? '', /"last\.zip" is not opened: the message used up its 4194304 bytes for nested archives/);
});

test('data before the first entry is a problem; a zip glued behind other data is recognised from its end', () => {
  const zip = makeZip([exe]);
  const glued = Buffer.concat([Buffer.from('GIF89a not really an image'), zip]);
  assert.equal(endsWithZip(glued), true);
  assert.equal(endsWithZip(Buffer.from('%PDF-1.4 ... %%EOF')), false);
  assert.match(list(glued).problem ?? '', /26 bytes of other data before the first zip entry/);
});

/** One deflated member whose directory claims `declaredSize`, with `deflated` as its data. */
function makeZipRaw(name: string, deflated: Buffer, declaredSize: number): Buffer {
  const template = makeZip([{ name, data: Buffer.alloc(declaredSize), deflate: true }]);
  const nameLength = Buffer.byteLength(name);
  const oldData = template.readUInt32LE(18);
  const local = Buffer.from(template.subarray(0, 30 + nameLength));
  local.writeUInt32LE(deflated.length, 18);
  const central = Buffer.from(template.subarray(30 + nameLength + oldData, template.length - 22));
  central.writeUInt32LE(deflated.length, 20);
  const end = Buffer.from(template.subarray(template.length - 22));
  end.writeUInt32LE(local.length + deflated.length, 16);
  return Buffer.concat([local, deflated, central, end]);
}
