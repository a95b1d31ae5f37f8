// Lists what the client's message catalogs lack, and exits 1 if anything is missing:
// - a key of one language that another lacks (English is the reference; no language may have extra keys);
// - a plural without every CLDR category its language uses (Russian: one, few, many, other; Arabic: zero,
//   one, two, few, many, other), as Intl.PluralRules reports them;
// - a placeholder of the English text (other than the count itself) that a translation drops or misnames;
// - a key the sources use (t('…'), tx('…')) that no catalog has;
// - an error code, a removal reason or a stop reason the server can send that no catalog explains
//   (`error.CODE`, `error.removed.REASON`, …), found in the Rust sources.
// Usage: node web/scripts/check-catalogs.mjs   (from anywhere; the test suite runs it)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(web, '..');
const LANGS = ['en', 'ru', 'ar'];
const catalogs = Object.fromEntries(LANGS.map((l) => [l, JSON.parse(readFileSync(join(web, 'src/locales', `${l}.json`), 'utf8'))]));
const en = catalogs.en;
const problems = [];

const forms = (m) => (typeof m === 'string' ? [m] : Object.values(m));
const placeholders = (text) => new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
// The count may be spelled out ("один", "واحد") instead of shown, and `n` is the count as an element.
const COUNTS = new Set(['count', 'n']);

for (const lang of LANGS) {
  const catalog = catalogs[lang];
  const categories = new Intl.PluralRules(lang).resolvedOptions().pluralCategories;
  for (const key of Object.keys(en)) {
    const message = catalog[key];
    if (message === undefined) {
      problems.push(`${lang}: missing ${key}`);
      continue;
    }
    if (typeof en[key] !== typeof message) problems.push(`${lang}: ${key} is ${typeof en[key] === 'string' ? 'a text' : 'a plural'} in English`);
    if (typeof message === 'object') {
      for (const c of categories) if (!(c in message)) problems.push(`${lang}: ${key} lacks the plural form "${c}"`);
      for (const c of Object.keys(message)) if (!categories.includes(c)) problems.push(`${lang}: ${key} has the form "${c}", which ${lang} does not use`);
    }
    const wanted = new Set(forms(en[key]).flatMap((f) => [...placeholders(f)]));
    for (const form of forms(message)) {
      const got = placeholders(form);
      for (const p of wanted) if (!COUNTS.has(p) && !got.has(p)) problems.push(`${lang}: ${key} drops {${p}}`);
      for (const p of got) if (!wanted.has(p)) problems.push(`${lang}: ${key} has {${p}}, which English has not`);
      if (!form.trim()) problems.push(`${lang}: ${key} is empty`);
    }
  }
  for (const key of Object.keys(catalog)) if (!(key in en)) problems.push(`${lang}: ${key} is not an English key`);
}

function files(dir, ext, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'target' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, ext, out);
    else if (ext.some((e) => name.endsWith(e))) out.push(path);
  }
  return out;
}

for (const file of files(join(web, 'src'), ['.ts', '.tsx'])) {
  for (const m of readFileSync(file, 'utf8').matchAll(/\btx?\(\s*'([^']+)'/g)) {
    if (!(m[1] in en)) problems.push(`${file.slice(root.length + 1)}: uses ${m[1]}, which no catalog has`);
  }
}

// What the server can tell a person, by code: each needs a text in every language.
const server = new Set();
for (const file of files(join(root, 'crates'), ['.rs'])) {
  if (file.includes('/tests/') || file.endsWith('/tests.rs')) continue;
  const src = readFileSync(file, 'utf8');
  for (const m of src.matchAll(/ApiError::(?:bad_request|forbidden|new)\(\s*(?:StatusCode::\w+,\s*)?"([a-z_]+)"/g)) server.add(`error.${m[1]}`);
  for (const m of src.matchAll(/ServerEvent::Error\s*\{[^}]*?code:\s*"([a-z_]+)"/g)) server.add(`error.${m[1]}`);
  for (const m of src.matchAll(/(?:Revoked::new|\.expel)\(\s*(?:\w+,\s*)?"([a-z_]+)"/g)) server.add(`error.removed.${m[1]}`);
  for (const m of src.matchAll(/reason:\s*"([a-z_]+)"\.into\(\)/g)) server.add(`error.removed.${m[1]}`);
  for (const m of src.matchAll(/RecordingStopped\s*\{\s*reason:\s*"([a-z_]+)"/g)) server.add(`error.recording_stopped.${m[1]}`);
  for (const m of src.matchAll(/restream_stopped\(\s*"([a-z_]+)"/g)) server.add(`error.restream_stopped.${m[1]}`);
  if (file.endsWith('crates/room/src/error.rs')) for (const m of src.matchAll(/=> "([a-z_]+)"/g)) server.add(`error.${m[1]}`);
}
for (const key of [...server].sort()) if (!(key in en)) problems.push(`server: ${key} has no text in the catalogs`);

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`${problems.length} problem(s) in the message catalogs (web/src/locales).`);
  process.exit(1);
}
console.log(`catalogs: ${Object.keys(en).length} keys in ${LANGS.join(', ')}, and ${server.size} server codes, all present`);
