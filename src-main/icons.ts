import { deflateSync } from 'node:zlib';
import type { Health } from './bridge.ts';

/**
 * The tray and app icons, drawn in code (a few shapes) and encoded as PNG, so that no binary image has to be kept
 * in the repository and each health state has its own colour.
 */

export type Rgba = readonly [number, number, number, number];

/** Tray colours: green, amber, red, readable on light and dark panels. */
export const HEALTH_COLOURS: Record<Health, Rgba> = {
  ok: [46, 125, 50, 255],
  warning: [249, 168, 37, 255],
  alert: [198, 40, 40, 255],
};

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG (8-bit RGBA, no interlace) of `size`×`size` pixels given row by row. */
export function encodePng(size: number, pixels: Uint8Array): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8);
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    raw.set(pixels.subarray(y * size * 4, (y + 1) * size * 4), y * (size * 4 + 1) + 1);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A shape: the colour at a point (in units of the icon's width, 0..1), or null for transparent. */
type Shape = (x: number, y: number) => Rgba | null;

/** Draws with 4×4 supersampling, so round edges are smooth at tray sizes. */
function render(size: number, shape: Shape): Uint8Array {
  const pixels = new Uint8Array(size * size * 4);
  const samples = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const colour = shape((px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size);
          if (!colour) continue;
          const alpha = colour[3] / 255;
          r += colour[0] * alpha;
          g += colour[1] * alpha;
          b += colour[2] * alpha;
          a += alpha;
        }
      }
      const offset = (py * size + px) * 4;
      if (a > 0) pixels.set([Math.round(r / a), Math.round(g / a), Math.round(b / a), Math.round((a / (samples * samples)) * 255)], offset);
    }
  }
  return pixels;
}

const distance = (x: number, y: number) => Math.hypot(x - 0.5, y - 0.5);

/** The tray icon: a filled disc in the health colour with a light ring (a moat around its keep). */
export function trayIconPng(health: Health, size = 32): Buffer {
  const colour = HEALTH_COLOURS[health];
  return encodePng(
    size,
    render(size, (x, y) => {
      const d = distance(x, y);
      if (d > 0.47) return null;
      if (d > 0.3 && d < 0.38) return [255, 255, 255, 235];
      return colour;
    }),
  );
}

/** The application icon (window, packages): a blue disc, a water ring and a white keep. */
export function appIconPng(size = 512): Buffer {
  return encodePng(
    size,
    render(size, (x, y) => {
      const d = distance(x, y);
      if (d > 0.48) return null;
      if (Math.abs(x - 0.5) < 0.14 && Math.abs(y - 0.5) < 0.14) return [255, 255, 255, 255];
      if (d > 0.26 && d < 0.36) return [100, 181, 246, 255];
      return [21, 101, 192, 255];
    }),
  );
}
