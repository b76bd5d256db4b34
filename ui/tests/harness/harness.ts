// Test-only entry (vite.test.config.ts → dist-test/): stands in for the Tauri shell with
// @tauri-apps/api/mocks, then starts the real app. Never part of the product build.
//
// Commands go to `window.__deskbellInvoke(cmd, args)`, which the Node test exposes
// (playwright `page.exposeFunction`) and answers `{ ok: value }` or `{ err: CommandError }`.
// Events are emitted with `window.__deskbellHarness.emit(name, payload)` (mocked `listen`).

import { emit } from '@tauri-apps/api/event';
import { mockIPC } from '@tauri-apps/api/mocks';

type Reply = { ok: unknown } | { err: unknown };

declare global {
  interface Window {
    __deskbellInvoke?: (cmd: string, args: unknown) => Promise<Reply>;
    __deskbellHarness: {
      emit: (event: string, payload: unknown) => Promise<void>;
      listening: () => string[];
    };
  }
}

const listening = new Set<string>();

mockIPC(
  async (cmd, args) => {
    const invokeInNode = window.__deskbellInvoke;
    if (!invokeInNode) throw { code: 'internal', message: `no mock for ${cmd}`, current: null };
    const reply = await invokeInNode(cmd, args ?? {});
    if ('err' in reply) throw reply.err;
    return reply.ok;
  },
  { shouldMockEvents: true },
);

// Record which events the app listens to (tests wait for the app's subscriptions).
const internals = (window as unknown as { __TAURI_INTERNALS__: { invoke: (cmd: string, args?: unknown, opts?: unknown) => Promise<unknown> } })
  .__TAURI_INTERNALS__;
const mockedInvoke = internals.invoke;
internals.invoke = (cmd, args, opts) => {
  if (cmd === 'plugin:event|listen' && args && typeof args === 'object' && 'event' in args) {
    listening.add(String((args as { event: unknown }).event));
  }
  return mockedInvoke(cmd, args, opts);
};

window.__deskbellHarness = {
  emit: (event, payload) => emit(event, payload),
  listening: () => [...listening],
};

await import('../../src/main');
