// The client in Russian and in Arabic (issue 33 §3): a person whose browser speaks the language signs up from
// an invite, walks the hallway, starts a room and uses it (the stage, the chat, the menu), then their
// profile, invites, clubs, messages and settings, at phone size (390 × 844). Each screen must be axe-clean,
// show no catalog key and no English word, be in the right direction (Arabic mirrors right to left), and
// count with the language's plural rules; each is saved as a screenshot. In Settings the Russian speaker
// then switches the client to Arabic and back to what the browser says.
//
// Usage: node languages.mjs   with env STOA_BIN (the stoa binary) and OUT (a folder for screenshots).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { axeClean, launch, startServer, wav } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-languages-'));
const step = (s) => process.stderr.write(`languages: ${s}\n`);
const catalog = (lang) => JSON.parse(readFileSync(new URL(`../../web/src/locales/${lang}.json`, import.meta.url), 'utf8'));
const EN = catalog('en');
// Words that are names in every language: the product, browsers and systems, formats and services the
// texts mention.
const NAMES = new Set(['Chrome', 'Firefox', 'Linux', 'Stoa', 'OBS', 'RTMP', 'JSON', 'YouTube', 'Twitch', 'Google', 'Apple', 'Thunderbird', 'Live', 'WebP', 'JPEG', 'HTTP']);

/// The text of message `key` in catalog `c`, as the client fills it (`count` picks the CLDR plural form).
function text(c, lang, key, params = {}) {
  let m = c[key];
  if (typeof m === 'object') m = m[new Intl.PluralRules(lang).select(params.count ?? 0)] ?? m.other;
  return m.replace(/\{(\w+)\}/g, (w, n) => (n in params ? (typeof params[n] === 'number' ? new Intl.NumberFormat(lang).format(params[n]) : params[n]) : w));
}

/// Fails if the page shows a catalog key, or an English word outside names, user content, code and links.
async function allTranslated(page, lang, screen) {
  const shown = await page.evaluate(() => {
    const body = document.body.cloneNode(true);
    // What people wrote and what is code stays as it is (titles they chose are in the test's own language),
    // and each language is offered under its own name.
    body.querySelectorAll('code, a[href^="http"], .invite-link, audio, script, style, option[lang]').forEach((e) => e.remove());
    return body.innerText;
  });
  const keys = (shown.match(/\b[a-z_]+\.[a-z_.:]+\b/g) ?? []).filter((k) => k in EN);
  assert.deepEqual(keys, [], `${lang} ${screen}: catalog keys shown`);
  const english = (shown.replace(/@\w+/g, '').replace(/\/\S+/g, '').match(/[A-Za-z][A-Za-z'’]{2,}/g) ?? []).filter((w) => !NAMES.has(w));
  assert.deepEqual(english, [], `${lang} ${screen}: English words shown`);
}

async function screen(page, lang, name) {
  await allTranslated(page, lang, name);
  await axeClean(page, `${lang} ${name}`, step);
  await page.screenshot({ path: join(OUT, `lang-${lang}-${name}.png`) });
}

const { server, bootstrap, base } = await startServer(work);
step(`server at ${base}`);
const browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  `--use-file-for-fake-audio-capture=${wav(join(work, 'tone.wav'), 440)}`, '--autoplay-policy=no-user-gesture-required']);
let page;
try {
  const people = { ru: { username: 'anna', name: 'Анна Ведущая', title: 'Утренний разговор' }, ar: { username: 'sara', name: 'سارة المضيفة', title: 'حديث الصباح' } };
  let invite = bootstrap;
  const pages = {};
  for (const lang of ['ru', 'ar']) {
    const T = catalog(lang);
    const t = (key, params) => text(T, lang, key, params);
    const who = people[lang];
    // The browser speaks the language: Playwright's locale sets navigator.languages and Accept-Language.
    const context = await browser.newContext({ locale: lang === 'ru' ? 'ru-RU' : 'ar-EG', viewport: { width: 390, height: 844 }, bypassCSP: true });
    page = await context.newPage();
    pages[lang] = page;
    page.on('dialog', (d) => d.accept());
    page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));

    await page.goto(invite);
    await page.getByRole('heading', { name: t('signup.title'), exact: true }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), lang);
    assert.equal(await page.evaluate(() => document.documentElement.dir), lang === 'ar' ? 'rtl' : 'ltr');
    await screen(page, lang, 'sign-up');
    await page.getByLabel(t('account.username')).fill(who.username);
    await page.getByLabel(t('account.display_name')).fill(who.name);
    await page.getByLabel(t('account.password')).fill(`${who.username}-password`);
    await page.getByRole('button', { name: t('signup.submit'), exact: true }).click();
    await page.getByRole('heading', { name: t('hallway.title'), exact: true }).waitFor();
    // Right to left, the header starts on the right: the brand sits at the right-hand edge.
    const brand = await page.getByRole('link', { name: 'Stoa', exact: true }).boundingBox();
    assert.ok(lang === 'ar' ? brand.x > 390 / 2 : brand.x < 390 / 2, `${lang}: the brand is at the ${lang === 'ar' ? 'right' : 'left'} (x ${brand.x})`);
    await screen(page, lang, 'hallway');

    await page.getByRole('button', { name: t('hallway.start'), exact: true }).click();
    await page.getByLabel(t('start.title')).fill(who.title);
    await screen(page, lang, 'start-room');
    await page.getByRole('button', { name: t('start.go'), exact: true }).click();
    await page.getByRole('heading', { name: who.title, exact: true }).waitFor();
    await page.getByRole('region', { name: t('room.on_stage') }).getByText(who.name).waitFor();
    // Nobody listens yet (the host is on stage): the count takes the language's form for 0 (Arabic has its own).
    await page.getByText(t('room.listening', { count: 0 }), { exact: true }).waitFor();
    await screen(page, lang, 'room');
    await page.getByRole('button', { name: t('room.chat'), exact: true }).click();
    await page.getByPlaceholder(t('chat.placeholder')).fill(lang === 'ru' ? 'Всем привет' : 'مرحبًا بالجميع');
    await page.getByRole('button', { name: t('chat.send'), exact: true }).click();
    await page.getByRole('button', { name: t('room.chat_count', { count: 1 }), exact: true }).waitFor();
    await screen(page, lang, 'room-chat');
    await page.getByRole('button', { name: t('common.close'), exact: true }).click();
    await page.getByRole('button', { name: t('room.more'), exact: true }).click();
    await screen(page, lang, 'room-more');
    await page.getByRole('button', { name: t('common.close'), exact: true }).click();
    await page.getByRole('button', { name: t('room.leave'), exact: true }).click();
    await page.getByRole('heading', { name: t('hallway.title'), exact: true }).waitFor();

    await page.getByRole('link', { name: t('nav.invites'), exact: true }).click();
    await page.getByRole('button', { name: t('invites.create'), exact: true }).click();
    await page.locator('.invite-link').first().waitFor();
    const quota = await page.evaluate(() => document.querySelector('.lede')?.textContent ?? '');
    assert.match(quota, /\d|[٠-٩]/, `${lang}: the invites line counts`);
    invite = await page.locator('.invite-link').first().innerText();
    await screen(page, lang, 'invites');
    await page.getByRole('link', { name: t('nav.profile'), exact: true }).click();
    await page.getByRole('heading', { name: who.name, exact: true }).waitFor();
    await screen(page, lang, 'profile');
    await page.getByRole('link', { name: t('nav.clubs'), exact: true }).click();
    await page.getByRole('heading', { name: t('nav.clubs'), exact: true }).waitFor();
    await screen(page, lang, 'clubs');
    await page.getByRole('link', { name: t('messages.title'), exact: true }).click();
    await page.getByRole('heading', { name: t('messages.title'), exact: true }).waitFor();
    await screen(page, lang, 'messages');
    await page.getByRole('link', { name: t('nav.settings'), exact: true }).click();
    await page.getByRole('heading', { name: t('nav.settings'), exact: true }).waitFor();
    await screen(page, lang, 'settings');
    step(`${lang}: every screen in ${lang}, axe-clean, ${lang === 'ar' ? 'right to left' : 'left to right'}`);
  }

  // The setting: the Russian speaker picks Arabic (the page turns right to left at once, kept across a
  // reload), then goes back to the browser's language.
  const ru = pages.ru;
  const AR = catalog('ar');
  await ru.getByRole('combobox', { name: catalog('ru')['settings.language'] }).selectOption('ar');
  await ru.getByRole('heading', { name: AR['nav.settings'], exact: true }).waitFor();
  assert.equal(await ru.evaluate(() => document.documentElement.dir), 'rtl');
  await ru.reload();
  await ru.getByRole('heading', { name: AR['nav.settings'], exact: true }).waitFor();
  await ru.getByRole('combobox', { name: AR['settings.language'] }).selectOption('');
  await ru.getByRole('heading', { name: catalog('ru')['nav.settings'], exact: true }).waitFor();
  assert.equal(await ru.evaluate(() => document.documentElement.dir), 'ltr');
  step('the language setting switches the client at once and is remembered');
  console.log('languages: 1 passed, 0 failed');
} catch (err) {
  if (page) await page.screenshot({ path: join(OUT, 'failure-languages.png'), fullPage: true }).catch(() => undefined);
  if (page) process.stderr.write(`--- page at ${page.url()}:\n${await page.evaluate(() => document.body.innerText).catch(() => '')}\n`);
  throw err;
} finally {
  await browser.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
