import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { HEALTH_COLOURS, appIconPng, trayIconPng } from '../../../src-main/icons.ts';

/** Reads back an 8-bit RGBA PNG with filter 0 rows, as encodePng writes it. */
function decode(png: Buffer): { size: number; pixel(x: number, y: number): number[] } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let offset = 8;
  let size = 0;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('ascii', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      size = body.readUInt32BE(0);
      assert.deepEqual([...body.subarray(8, 13)], [8, 6, 0, 0, 0]);
    }
    if (type === 'IDAT') data.push(body);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const row = size * 4 + 1;
  return { size, pixel: (x, y) => [...raw.subarray(y * row + 1 + x * 4, y * row + 1 + x * 4 + 4)] };
}

test('each tray state has its own colour at the centre and a transparent corner', () => {
  for (const health of ['ok', 'warning', 'alert'] as const) {
    const image = decode(trayIconPng(health, 32));
    assert.equal(image.size, 32);
    assert.deepEqual(image.pixel(16, 16), [...HEALTH_COLOURS[health]]);
    assert.equal(image.pixel(0, 0)[3], 0);
  }
});

test('the app icon is a 512 px PNG, as the packages need', () => {
  const image = decode(appIconPng(512));
  assert.equal(image.size, 512);
  assert.deepEqual(image.pixel(256, 256), [255, 255, 255, 255]);
});
