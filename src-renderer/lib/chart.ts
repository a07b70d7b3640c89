/**
 * The dashboard's charts are plain SVG drawn here (no chart library): scales, nice axis steps, line paths.
 */

export interface Box {
  width: number;
  height: number;
  top: number;
  right: number;
  bottom: number;
  left: number;
}

export interface Point {
  x: number;
  y: number;
}

/** The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value (1 for 0 or less, so an empty chart has an axis). */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value - 1e-9) return step * power;
  return 10 * power;
}

/** A step of 1, 2 or 5 times a power of ten, at least 1 (counts of messages are whole). */
export function niceStep(raw: number): number {
  if (!(raw > 1)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 2, 5, 10]) if (step * power >= raw - 1e-9) return step * power;
  return 10 * power;
}

/** Axis ticks from 0 up to the first step at or above max, about `count` steps; the last tick is the axis top. */
export function ticks(max: number, count = 4): number[] {
  const step = niceStep(max / count);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const out: number[] = [];
  for (let value = 0; value <= top; value += step) out.push(value);
  return out;
}

export function seriesMax<T>(rows: readonly T[], keys: readonly (keyof T)[]): number {
  let max = 0;
  for (const row of rows) for (const key of keys) max = Math.max(max, Number(row[key]) || 0);
  return max;
}

/** x of the i-th of n buckets across the plot; one bucket sits in the middle. */
export function xAt(index: number, count: number, box: Box): number {
  const inner = box.width - box.left - box.right;
  if (count <= 1) return box.left + inner / 2;
  return box.left + (inner * index) / (count - 1);
}

/** y of a value on a 0..top axis (SVG y grows downwards). */
export function yAt(value: number, top: number, box: Box): number {
  const inner = box.height - box.top - box.bottom;
  const ratio = top > 0 ? Math.min(1, Math.max(0, value / top)) : 0;
  return box.top + inner * (1 - ratio);
}

export function linePoints<T>(rows: readonly T[], key: keyof T, top: number, box: Box): Point[] {
  return rows.map((row, index) => ({ x: round(xAt(index, rows.length, box)), y: round(yAt(Number(row[key]) || 0, top, box)) }));
}

/** "M x y L x y ..." for a polyline; "" for no points. */
export function linePath(points: readonly Point[]): string {
  return points.map((point, index) => `${index === 0 ? 'M' : 'L'}${point.x} ${point.y}`).join(' ');
}

/** The same line closed down to the axis, for a light fill under it. */
export function areaPath(points: readonly Point[], box: Box): string {
  if (points.length === 0) return '';
  const base = box.height - box.bottom;
  return `${linePath(points)} L${points[points.length - 1]!.x} ${base} L${points[0]!.x} ${base} Z`;
}

/** About `count` evenly spread bucket indexes for time labels, always including the last one. */
export function labelIndexes(length: number, count = 6): number[] {
  if (length <= 0) return [];
  if (length <= count) return Array.from({ length }, (_, index) => index);
  const step = Math.ceil((length - 1) / (count - 1));
  const out: number[] = [];
  for (let index = length - 1; index >= 0; index -= step) out.unshift(index);
  return out;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
