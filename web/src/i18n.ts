// The client's languages: English, Russian and Arabic. Every text a person reads comes from a catalog
// (locales/*.json) by its key; plurals follow the CLDR's rules for the language (Intl.PluralRules), numbers
// and dates are Intl's, and Arabic turns the page right to left (the stylesheet uses logical properties).
// The language is the one chosen in Settings, else the browser's first that Stoa speaks, else English.
import { Fragment, h, type ComponentChild } from 'preact';
import en from './locales/en.json';
import ru from './locales/ru.json';
import ar from './locales/ar.json';

export type Lang = 'en' | 'ru' | 'ar';
export type Key = keyof typeof en;
type Message = string | Partial<Record<Intl.LDMLPluralRule, string>>;
type Params = Record<string, string | number>;

const catalogs: Record<Lang, Record<string, Message>> = { en, ru, ar };
/** The languages, each named in itself. */
export const LANGUAGES: { code: Lang; name: string }[] = [
  { code: 'en', name: 'English' },
  { code: 'ru', name: 'Русский' },
  { code: 'ar', name: 'العربية' },
];
const STORED = 'stoa.lang';

function supported(tag: string | null | undefined): Lang | undefined {
  const base = tag?.toLowerCase().split('-')[0];
  return LANGUAGES.find((l) => l.code === base)?.code;
}

/** The chosen language, else the browser's first one that Stoa speaks, else English. */
function pick(): Lang {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(STORED);
  } catch {
    /* storage may be off */
  }
  for (const tag of [stored, ...(navigator.languages ?? [navigator.language])]) {
    const lang = supported(tag);
    if (lang) return lang;
  }
  return 'en';
}

let current: Lang = pick();
let plurals = new Intl.PluralRules(current);
let numbers = new Intl.NumberFormat(current);
const listeners = new Set<() => void>();

function apply() {
  document.documentElement.lang = current;
  document.documentElement.dir = current === 'ar' ? 'rtl' : 'ltr';
}
apply();

export function lang(): Lang {
  return current;
}

/** Whether the person chose a language themselves (else it follows the browser). */
export function chosen(): Lang | undefined {
  try {
    return supported(localStorage.getItem(STORED));
  } catch {
    return undefined;
  }
}

/** Changes the language (undefined: follow the browser), remembers it and re-renders what listens. */
export function setLang(code: Lang | undefined) {
  try {
    if (code) localStorage.setItem(STORED, code);
    else localStorage.removeItem(STORED);
  } catch {
    /* remembered for this page only */
  }
  current = pick();
  plurals = new Intl.PluralRules(current);
  numbers = new Intl.NumberFormat(current);
  apply();
  for (const f of listeners) f();
}

export function onLangChange(f: () => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

function lookup(key: string, params?: Params): string {
  const message = catalogs[current][key] ?? catalogs.en[key] ?? key;
  if (typeof message === 'string') return message;
  const count = Number(params?.count ?? 0);
  return message[plurals.select(count)] ?? message.other ?? key;
}

function value(v: string | number): string {
  return typeof v === 'number' ? numbers.format(v) : v;
}

/** The text for `key`, with `{name}` filled from `params` (numbers formatted for the language; `count`
 * chooses the plural form). */
export function t(key: Key, params?: Params): string {
  return lookup(key, params).replace(/\{(\w+)\}/g, (whole, name: string) => (params && name in params ? value(params[name]!) : whole));
}

/** Like `t`, for a sentence with parts that are elements (a link, a name in bold): no sentence is ever put
 * together from pieces, the catalog places each part. */
export function tx(key: Key, parts: Record<string, ComponentChild>, params?: Params): ComponentChild {
  const text = lookup(key, params);
  const out: ComponentChild[] = [];
  let last = 0;
  for (const m of text.matchAll(/\{(\w+)\}/g)) {
    out.push(text.slice(last, m.index));
    const name = m[1]!;
    out.push(name in parts ? parts[name] : params && name in params ? value(params[name]!) : m[0]);
    last = m.index! + m[0].length;
  }
  out.push(text.slice(last));
  return h(Fragment, null, ...out);
}

/** The text for an error code the server sent, in the reader's language; the server's own English
 * sentence (more exact) when reading English or when the catalog has no such code. */
export function errorText(code: string, serverMessage: string): string {
  if (current === 'en') return serverMessage;
  const key = `error.${code}`;
  return key in catalogs[current] ? lookup(key) : serverMessage;
}

export function num(n: number): string {
  return numbers.format(n);
}

/** A date and time, in the language's way. */
export function dateTime(at: Date | number | string, options: Intl.DateTimeFormatOptions = { dateStyle: 'medium', timeStyle: 'short' }): string {
  return new Intl.DateTimeFormat(current, options).format(new Date(at));
}

/** Names joined as the language joins a list ("A, B and C"; "А, Б и В"; "أ وب وج"). */
export function list(items: string[]): string {
  return new Intl.ListFormat(current, { style: 'long', type: 'conjunction' }).format(items);
}
