// Shared pieces of the web client: navigation, links, avatars, form fields, errors and dialogs.
import { useEffect, useId, useRef } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError } from './api';
import type { UserSummary } from './wire';
import { errorText, t } from './i18n';

export function navigate(path: string) {
  if (path !== location.pathname + location.search) history.pushState(null, '', path);
  window.dispatchEvent(new Event('stoa:navigate'));
  window.scrollTo(0, 0);
}

export function Link(props: { href: string; class?: string; children: ComponentChildren; 'aria-label'?: string }) {
  return (
    <a
      href={props.href}
      class={props.class}
      aria-label={props['aria-label']}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

// ---------- small pieces ----------

const PALETTE = ['#2f6b4f', '#8a4f2a', '#3d5a8a', '#7a3b69', '#5b6b1f', '#a0522d', '#2c6e78', '#6b4f9a'];

export function Avatar({ user, size = 'md', src }: { user: UserSummary; size?: 'sm' | 'md' | 'lg'; src?: string | null }) {
  if (src) return <img class={`avatar avatar-${size}`} src={size === 'lg' ? src : `${src}?size=64`} alt="" />;
  const initials = user.display_name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0]!.toUpperCase()).join('') || '?';
  let hash = 0;
  for (const c of user.username) hash = (hash * 31 + c.charCodeAt(0)) | 0;
  return (
    <span class={`avatar avatar-${size}`} style={{ background: PALETTE[Math.abs(hash) % PALETTE.length] }} aria-hidden="true">
      {initials}
    </span>
  );
}

export function Field(props: { label: string; value: string; onInput: (v: string) => void; type?: string; autocomplete?: string; required?: boolean; hint?: string }) {
  // Labels are in the reader's language, so the field's id comes from Preact, not from its label.
  const id = `f${useId()}`;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        type={props.type ?? 'text'}
        value={props.value}
        autocomplete={props.autocomplete}
        required={props.required}
        aria-describedby={props.hint ? `${id}-hint` : undefined}
        onInput={(e) => props.onInput((e.target as HTMLInputElement).value)}
      />
      {props.hint && <p class="hint" id={`${id}-hint`}>{props.hint}</p>}
    </div>
  );
}

export function ErrorNote({ message }: { message?: string }) {
  return message ? <p class="error" role="alert">{message}</p> : null;
}

export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    const onCancel = (e: Event) => {
      e.preventDefault();
      props.onClose();
    };
    d.addEventListener('cancel', onCancel);
    return () => d.removeEventListener('cancel', onCancel);
  }, []);
  return (
    <dialog ref={ref} class="modal" aria-labelledby="modal-title">
      <h2 id="modal-title">{props.title}</h2>
      {props.children}
    </dialog>
  );
}

export function message(err: unknown): string {
  return err instanceof ApiError ? errorText(err.code, err.message) : t('error.offline');
}

