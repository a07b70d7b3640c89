import { join } from 'node:path';

/** Started at login, the app opens to the tray only (the relay runs; the window opens from the tray). */
export const HIDDEN_ARG = '--hidden';

export interface LoginItemEffects {
  platform: NodeJS.Platform;
  /** Electron's app.setLoginItemSettings (macOS and Windows only). */
  setLoginItemSettings(settings: { openAtLogin: boolean; args?: string[] }): void;
  /** The XDG autostart folder (`~/.config/autostart`) on Linux. */
  autostartDir: string;
  /** The command that starts the app (the AppImage's path when run from one, else the executable). */
  command: string;
  writeFile(path: string, data: string): void;
  mkdir(path: string): void;
  rm(path: string): void;
}

export const AUTOSTART_FILE = 'moat.desktop';

/**
 * A desktop entry's Exec argument: quoted, the characters the spec reserves inside quotes escaped, then the
 * string escape applied (a literal backslash ends up as four), and `%` doubled (field codes).
 */
export function execQuote(value: string): string {
  const quoted = `"${value.replace(/[\\"`$]/g, (char) => `\\${char}`)}"`;
  return quoted.replace(/\\/g, '\\\\').replace(/%/g, '%%');
}

/** The XDG autostart entry that starts Moat to the tray at login. */
export function autostartEntry(command: string): string {
  return ['[Desktop Entry]', 'Type=Application', 'Name=Moat', 'Comment=Mail relay tray', `Exec=${execQuote(command)} ${HIDDEN_ARG}`, 'X-GNOME-Autostart-enabled=true', 'Terminal=false', ''].join('\n');
}

/** Turns start-at-login on or off the way each OS wants it (Electron has no login items on Linux). */
export function applyStartAtLogin(enabled: boolean, effects: LoginItemEffects): void {
  if (effects.platform !== 'linux') {
    effects.setLoginItemSettings({ openAtLogin: enabled, args: [HIDDEN_ARG] });
    return;
  }
  const file = join(effects.autostartDir, AUTOSTART_FILE);
  if (!enabled) {
    effects.rm(file);
    return;
  }
  effects.mkdir(effects.autostartDir);
  effects.writeFile(file, autostartEntry(effects.command));
}
