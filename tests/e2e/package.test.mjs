// The installed app: the release .deb installed over an older version of itself keeps the user's
// settings and keychain session, and the packaged binary runs the demo until Live. Run by
// tests/package/run.sh (it builds the package, checks its contents and dependencies, and sets
// E2E_PACKAGE_*), through tests/e2e/run.sh's private session: the keyring, the tray host and the
// throwaway HOME are the same for every launch here, as they are for a user across an upgrade.
//
// Installing needs root: run.sh runs as root (CI) or tests/package/run.sh says what is missing.

import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import {
  AGENT, Tray, env, keychainClear, keychainUser, openApp, secretLookup, until,
} from './support.mjs';
import * as ui from './ui.mjs';
import { SEL, TIMEOUT, setBrowser, waitFor, waitPill } from './ui.mjs';

const serverUrl = env('E2E_SERVER_URL');
const shots = env('E2E_SHOTS');
mkdirSync(join(shots, 'logs'), { recursive: true });
const oldDeb = env('E2E_PACKAGE_OLD');
const newDeb = env('E2E_PACKAGE_NEW');
const oldVersion = env('E2E_PACKAGE_OLD_VERSION');
const newVersion = env('E2E_PACKAGE_NEW_VERSION');
/** The release binary the package was made from (target/release/deskbell, marked as a deb). */
const builtBinary = env('E2E_PACKAGE_BINARY');
const installedBinary = '/usr/bin/deskbell';
/** The app's settings under the throwaway HOME (tauri.conf.json's identifier). */
const settingsFile = join(homedir(), '.config', 'app.deskbell.desktop', 'settings.json');

const tray = new Tray();
const state = { appQuit: true };
/** @type {WebdriverIO.Browser | null} */
let browser = null;
const step = ui.steps({ shots, prefix: 'package-', noShot: () => state.appQuit });

/** Runs dpkg; its output, or an error that carries what it said. */
function dpkg(...args) {
  try {
    return execFileSync('dpkg', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`dpkg ${args.join(' ')} failed: ${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}
const installedVersion = () =>
  execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'deskbell'], { encoding: 'utf8' }).trim();
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
const settings = () => JSON.parse(readFileSync(settingsFile, 'utf8'));

/** Starts the installed app (tauri-driver launches it) with `args`. */
async function launch(args = []) {
  browser = await openApp(installedBinary, { args });
  setBrowser(browser);
  state.appQuit = false;
}

/** Quits the app from its tray menu, as a user ends it, and waits until it has left the tray. */
async function quitFromTray() {
  state.appQuit = true;
  await tray.quitApp(TIMEOUT.ui);
  await browser?.deleteSession().catch(() => {});
  browser = null;
}

describe('the installed package', { concurrency: false }, () => {
  before(() => {
    assert.notEqual(oldVersion, newVersion, 'the older package has another version');
  });

  after(async () => {
    try {
      if (browser && !state.appQuit) await quitFromTray().catch(() => {});
      await browser?.deleteSession().catch(() => {});
    } finally {
      await keychainClear();
    }
  });

  step('old-installed', `the older package (${oldVersion}) installs`, async () => {
    dpkg('-i', oldDeb);
    assert.equal(installedVersion(), oldVersion);
    assert.ok(existsSync(installedBinary), `${installedBinary} is installed`);
  });

  step('old-signed-in', 'the older version signs in and keeps its session in the keychain', async () => {
    await launch();
    await ui.signInThroughUi(serverUrl, AGENT);
    await until(() => secretLookup(keychainUser(AGENT, serverUrl)), {
      timeout: TIMEOUT.ui, message: 'the session in the keychain',
    });
  });

  step('old-settings', 'a setting changed in the older version is saved; the app quits from the tray', async () => {
    await tray.click(/^Do not disturb$/);
    await until(async () => (await tray.entry(/^Do not disturb$/))?.checked === true
      && existsSync(settingsFile) && settings().alerts?.doNotDisturb === true,
    { timeout: TIMEOUT.ui, message: 'Do not disturb checked in the tray and saved in settings.json' });
    await quitFromTray();
  });

  step('upgraded', `the built package (${newVersion}) installs over it`, async () => {
    const output = dpkg('-i', newDeb);
    const quoted = (v) => v.replace(/[.+~]/g, '\\$&');
    assert.match(output, new RegExp(`Unpacking deskbell \\(${quoted(newVersion)}\\) over \\(${quoted(oldVersion)}\\)`),
      `dpkg upgraded the installed package (it said: ${output})`);
    assert.equal(installedVersion(), newVersion);
    assert.equal(sha256(installedBinary), sha256(builtBinary),
      `${installedBinary} is the release binary the package was built from`);
  });

  step('upgraded-resumes', 'after the upgrade the app resumes the session from the keychain, with the setting kept', async () => {
    await launch();
    await waitFor(async () => (await browser.$(SEL.board)).isDisplayed(), TIMEOUT.live,
      'the board never showed: the session was not resumed after the upgrade');
    await waitPill('live', /^Live$/, TIMEOUT.live);
    assert.equal(await (await browser.$(SEL.login)).isExisting(), false, 'no sign-in form');
    await until(async () => (await tray.entry(/^Do not disturb$/))?.checked === true, {
      timeout: TIMEOUT.ui, message: 'Do not disturb still checked in the tray',
    });
    assert.equal(settings().alerts.doNotDisturb, true, 'settings.json kept Do not disturb');
  });

  step('demo-live', 'the packaged binary runs the demo (--demo) until Live', async () => {
    await quitFromTray();
    await launch(['--demo']);
    await waitFor(async () => (await browser.$(SEL.board)).isDisplayed(), TIMEOUT.live,
      'the demo board never showed');
    await waitPill('live', /^Live$/, TIMEOUT.live);
    const cards = await browser.$$(SEL.card);
    assert.ok(cards.length > 0, 'the demo board has tickets');
  });
});
