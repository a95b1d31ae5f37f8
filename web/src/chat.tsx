// The room's chat sheet and its reactions: messages as plain text with links made clickable (never fetched),
// announced politely to screen readers; moderators delete messages, silence people and set who may write.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import type { RoomClient, RoomState } from './room';
import type { ChatMode, ChatMessage, Reaction, UserSummary } from './wire';

const REACTIONS: [Reaction, string, string][] = [
  ['clap', '👏', 'Applause'],
  ['heart', '❤️', 'Love'],
  ['laugh', '😂', 'Laugh'],
  ['fire', '🔥', 'Fire'],
  ['hundred', '💯', 'Hundred'],
  ['raised', '🙌', 'Raised hands'],
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
    ? 'A moderator silenced your chat in this room.'
    : chat.mode === 'off'
      ? 'The chat is off.'
      : chat.mode === 'speakers' && s.role === 'listener'
        ? 'Only people on stage can write here.'
        : undefined;
  return (
    <section class="chat-sheet" aria-label="Chat" onKeyDown={(e) => { if (e.key === 'Escape') onClose(); }}>
      <div class="bar">
        <h2 class="section">Chat</h2>
        {isMod && (
          <label class="inline">
            <span class="visually-hidden">Who can write</span>
            <select value={chat.mode} onChange={(e) => client.send({ type: 'set_chat_mode', mode: (e.target as HTMLSelectElement).value as ChatMode })}>
              <option value="everyone">Everyone writes</option>
              <option value="speakers">Speakers write</option>
              <option value="off">Chat off</option>
            </select>
          </label>
        )}
        <button class="link" onClick={onClose}>Close</button>
      </div>
      <ReactionBar client={client} s={s} />
      {chat.slow_mode && <p class="note" role="status">Slow mode: one message every 10 seconds each.</p>}
      <ul class="chat-messages" aria-live="polite" aria-relevant="additions">
        {chat.messages.map((m: ChatMessage) => (
          <li key={m.id}>
            <span class="chat-author">{m.user.display_name}</span>{' '}
            <time class="muted" dateTime={new Date(m.sent_at_ms).toISOString()}>{new Date(m.sent_at_ms).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' })}</time>
            <p class="chat-text"><Linked text={m.text} /></p>
            {m.user.id !== s.you?.id && (
              <span class="chat-actions">
                <button class="link" onClick={() => onReport(m.user)} aria-label={`Report ${m.user.display_name}`}>Report</button>
              </span>
            )}
            {isMod && (
              <span class="chat-actions">
                <button class="link" onClick={() => client.send({ type: 'delete_chat', message_id: m.id })} aria-label={`Delete ${m.user.display_name}'s message`}>Delete</button>
                {m.user.id !== s.you?.id && (
                  <button class="link" onClick={() => client.send({ type: 'silence_chat', user_id: m.user.id, silenced: true })} aria-label={`Silence ${m.user.display_name}`}>Silence</button>
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
          const t = text.trim();
          if (!t) return;
          client.send({ type: 'send_chat', text: t });
          setText('');
        }}>
          <label for="f-chat" class="visually-hidden">Message</label>
          <input id="f-chat" maxLength={500} value={text} placeholder="Say something" autocomplete="off" onInput={(e) => setText((e.target as HTMLInputElement).value)} />
          <button class="primary" type="submit">Send</button>
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
    const t = window.setTimeout(() => setShown([]), 1500);
    return () => window.clearTimeout(t);
  }, [s.reactions.serial]);
  return (
    <div class="reactions">
      <div class="reaction-burst" aria-hidden="true">
        {shown.map((b) => <span key={b.key} class="float">{b.emoji} ×{b.count}</span>)}
      </div>
      <p class="visually-hidden" aria-live="polite">{shown.map((b) => `${b.emoji} ${b.count}`).join(', ')}</p>
      <div class="reaction-buttons" role="group" aria-label="React">
        {REACTIONS.map(([reaction, emoji, label]) => (
          <button key={reaction} class="reaction" aria-label={label} onClick={() => client.send({ type: 'react', reaction })}>{emoji}</button>
        ))}
      </div>
    </div>
  );
}
