/**
 * The sandboxed preload (bundled as CommonJS to dist-main/preload.cjs): exposes `window.moat`, one method per
 * channel, and never ipcRenderer itself (STYLE habit 2). Main validates every input again (ipc.ts).
 */
import { contextBridge, ipcRenderer } from 'electron';
import { IPC_CHANNELS, type MoatBridge, type RelayStatus } from './bridge.ts';

function subscribe<T>(channel: string, accept: (value: unknown) => value is T, listener: (value: T) => void): () => void {
  const forward = (_event: unknown, value: unknown) => {
    if (accept(value)) listener(value);
  };
  ipcRenderer.on(channel, forward);
  return () => {
    ipcRenderer.removeListener(channel, forward);
  };
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isStatus = (value: unknown): value is RelayStatus => typeof value === 'object' && value !== null && 'state' in value;

const bridge = {
  getPreferences: () => ipcRenderer.invoke(IPC_CHANNELS.getPreferences),
  setNotificationChoices: (choices) => ipcRenderer.invoke(IPC_CHANNELS.setNotificationChoices, choices),
  setStartAtLogin: (enabled) => ipcRenderer.invoke(IPC_CHANNELS.setStartAtLogin, enabled),
  setCloseAction: (action) => ipcRenderer.invoke(IPC_CHANNELS.setCloseAction, action),
  chooseManagedRelay: (choice) => ipcRenderer.invoke(IPC_CHANNELS.chooseManagedRelay, choice),
  testAttach: (input) => ipcRenderer.invoke(IPC_CHANNELS.testAttach, input),
  showSampleNotification: () => ipcRenderer.invoke(IPC_CHANNELS.showSampleNotification),
  getRelayStatus: () => ipcRenderer.invoke(IPC_CHANNELS.getRelayStatus),
  retryRelay: () => ipcRenderer.invoke(IPC_CHANNELS.retryRelay),
  onNavigate: (listener) => subscribe(IPC_CHANNELS.navigate, isString, listener),
  onRelayStatus: (listener) => subscribe(IPC_CHANNELS.relayStatus, isStatus, listener),
} satisfies MoatBridge;

contextBridge.exposeInMainWorld('moat', bridge);
