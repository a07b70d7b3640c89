import type { WindowBounds } from './preferences.ts';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The window opens this large the first time, and never smaller than the minimum (the dashboard needs the room). */
export const DEFAULT_WINDOW_SIZE = { width: 1200, height: 800 };
export const MIN_WINDOW_SIZE = { width: 800, height: 560 };
/** A saved position is used only if this much of the title bar area lands on a screen (monitors come and go). */
const MIN_VISIBLE = { width: 120, height: 40 };

function overlap(a: Rect, b: Rect): { width: number; height: number } {
  return {
    width: Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x),
    height: Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y),
  };
}

/**
 * Where to open the window: the saved bounds when enough of them is on one of today's screens' work areas (the
 * size capped by that screen), else the default size, placed by the OS.
 */
export function restoreBounds(saved: WindowBounds | null, workAreas: Rect[]): { bounds: Partial<Rect> & { width: number; height: number }; maximized: boolean } {
  const fallback = { bounds: { ...DEFAULT_WINDOW_SIZE }, maximized: saved?.maximized ?? false };
  if (!saved) return fallback;
  const width = Math.max(MIN_WINDOW_SIZE.width, saved.width);
  const height = Math.max(MIN_WINDOW_SIZE.height, saved.height);
  if (saved.x === undefined || saved.y === undefined) return { bounds: { width, height }, maximized: saved.maximized };
  const rect = { x: saved.x, y: saved.y, width, height };
  const screen = workAreas.find((area) => {
    const shared = overlap(rect, area);
    return shared.width >= MIN_VISIBLE.width && shared.height >= MIN_VISIBLE.height;
  });
  if (!screen) return { bounds: { width: Math.min(width, workAreas[0]?.width ?? width), height: Math.min(height, workAreas[0]?.height ?? height) }, maximized: saved.maximized };
  return { bounds: { ...rect, width: Math.min(width, screen.width), height: Math.min(height, screen.height) }, maximized: saved.maximized };
}

/** What to save: the normal (not maximized) bounds plus whether it was maximized, so a restore is not full-screen sized. */
export function boundsToSave(normal: Rect, maximized: boolean): WindowBounds {
  return { x: Math.round(normal.x), y: Math.round(normal.y), width: Math.max(MIN_WINDOW_SIZE.width, Math.round(normal.width)), height: Math.max(MIN_WINDOW_SIZE.height, Math.round(normal.height)), maximized };
}
