// The room's chat sheet and its reactions: messages as plain text with links made clickable (never fetched),
// announced politely to screen readers; moderators delete messages, silence people and set who may write.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import type { RoomClient, RoomState } from './room';
import type { ChatMode, ChatMessage, Reaction, UserSummary } from './wire';
import { dateTime, num, t } from './i18n';

const REACTIONS: [Reaction, string][] = [
  ['clap', '👏'],
  ['heart', '❤️'],
  ['laugh', '😂'],
  ['fire', '🔥'],
  ['hundred', '💯'],
  ['raised', '🙌'],
];

/** Text with its http(s) links as links; everything else stays text (no HTML is ever built from it). */
function Linked({ text }: { text: string }) {
  const parts: ComponentChildren[] = [];
  const re = /https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]]/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    parts.push(text.slice(last, m.index));
    parts.push(<a href={m[0]} rel="noopener noreferrer nofollow ugc" target="_blank">{m[0]}</a>);
    last = m.index! + m[0].length;
  }
  parts.push(text.slice(last));
  return <>{parts}</>;
}

export function ChatSheet({ client, s, onClose, onReport }: { client: RoomClient; s: RoomState; onClose: () => void; onReport: (u: UserSummary) => void }) {
  const [text, setText] = useState('');
  const end = useRef<HTMLLIElement>(null);
  const isMod = s.role === 'moderator';
  const chat = s.chat;
  useEffect(() => end.current?.scrollIntoView({ block: 'end' }), [chat.messages.length]);
  const blocked = chat.silenced
    ? t('chat.silenced')
    : chat.mode === 'off'
      ? t('chat.off')
      : chat.mode === 'speakers' && s.role === 'listener'
        ? t('chat.speakers_only')
        : undefined;
  return (
    <section class="chat-sheet" aria-label={t('room.chat')} onKeyDown={(e) => { if (e.key === 'Escape') onClose(); }}>
      <div class="bar">
        <h2 class="section">{t('room.chat')}</h2>
        {isMod && (
          <label class="inline">
            <span class="visually-hidden">{t('chat.who')}</span>
            <select value={chat.mode} onChange={(e) => client.send({ type: 'set_chat_mode', mode: (e.target as HTMLSelectElement).value as ChatMode })}>
              <option value="everyone">{t('chat.mode.everyone')}</option>
              <option value="speakers">{t('chat.mode.speakers')}</option>
              <option value="off">{t('chat.mode.off')}</option>
            </select>
          </label>
        )}
        <button class="link" onClick={onClose}>{t('common.close')}</button>
      </div>
      <ReactionBar client={client} s={s} />
      {chat.slow_mode && <p class="note" role="status">{t('chat.slow')}</p>}
      <ul class="chat-messages" aria-live="polite" aria-relevant="additions">
        {chat.messages.map((m: ChatMessage) => (
          <li key={m.id}>
            <span class="chat-author">{m.user.display_name}</span>{' '}
            <time class="muted" dateTime={new Date(m.sent_at_ms).toISOString()}>{dateTime(m.sent_at_ms, { hour: 'numeric', minute: '2-digit' })}</time>
            <p class="chat-text"><Linked text={m.text} /></p>
            {m.user.id !== s.you?.id && (
              <span class="chat-actions">
                <button class="link" onClick={() => onReport(m.user)} aria-label={t('room.report_person', { name: m.user.display_name })}>{t('chat.report')}</button>
              </span>
            )}
            {isMod && (
              <span class="chat-actions">
                <button class="link" onClick={() => client.send({ type: 'delete_chat', message_id: m.id })} aria-label={t('chat.delete_label', { name: m.user.display_name })}>{t('chat.delete')}</button>
                {m.user.id !== s.you?.id && (
                  <button class="link" onClick={() => client.send({ type: 'silence_chat', user_id: m.user.id, silenced: true })} aria-label={t('chat.silence_label', { name: m.user.display_name })}>{t('chat.silence')}</button>
                )}
              </span>
            )}
          </li>
        ))}
        <li ref={end} class="chat-end" aria-hidden="true" />
      </ul>
      {blocked ? <p class="muted">{blocked}</p> : (
        <form class="chat-form" onSubmit={(e) => {
          e.preventDefault();
          const said = text.trim();
          if (!said) return;
          client.send({ type: 'send_chat', text: said });
          setText('');
        }}>
          <label for="f-chat" class="visually-hidden">{t('profile.message')}</label>
          <input id="f-chat" maxLength={500} value={text} placeholder={t('chat.placeholder')} autocomplete="off" onInput={(e) => setText((e.target as HTMLInputElement).value)} />
          <button class="primary" type="submit">{t('chat.send')}</button>
        </form>
      )}
    </section>
  );
}

export function ReactionBar({ client, s }: { client: RoomClient; s: RoomState }) {
  const [shown, setShown] = useState<{ emoji: string; count: number; key: string }[]>([]);
  useEffect(() => {
    if (s.reactions.serial === 0) return;
    const burst = s.reactions.counts.map((c) => ({
      emoji: REACTIONS.find((r) => r[0] === c.reaction)?.[1] ?? '?',
      count: c.count,
      key: `${s.reactions.serial}-${c.reaction}`,
    }));
    setShown(burst);
    const timer = window.setTimeout(() => setShown([]), 1500);
    return () => window.clearTimeout(timer);
  }, [s.reactions.serial]);
  return (
    <div class="reactions">
      <div class="reaction-burst" aria-hidden="true">
        {shown.map((b) => <span key={b.key} class="float">{b.emoji} ×{num(b.count)}</span>)}
      </div>
      <p class="visually-hidden" aria-live="polite">{shown.map((b) => `${b.emoji} ${num(b.count)}`).join(', ')}</p>
      <div class="reaction-buttons" role="group" aria-label={t('reaction.group')}>
        {REACTIONS.map(([reaction, emoji]) => (
          <button key={reaction} class="reaction" aria-label={t(`reaction.${reaction}`)} onClick={() => client.send({ type: 'react', reaction })}>{emoji}</button>
        ))}
      </div>
    </div>
  );
}
