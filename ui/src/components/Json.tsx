import { useState } from 'react';

/** Values longer than this are collapsed until asked for. */
const COLLAPSE_CHARS = 400;

/** A JSON value: pretty, collapsed when large, and copyable. */
export function Json({ value, label }: { value: unknown; label: string }) {
  const text = value === undefined ? 'null' : JSON.stringify(value, null, 2);
  const large = text.length > COLLAPSE_CHARS;
  const [open, setOpen] = useState(!large);
  const [copied, setCopied] = useState(false);
  return (
    <div className="json">
      <div className="json-head">
        <span>{label}</span>
        <span className="muted">{large ? `${text.length.toLocaleString()} characters` : ''}</span>
        {large && (
          <button className="link" onClick={() => setOpen(!open)}>
            {open ? 'collapse' : 'expand'}
          </button>
        )}
        <button
          className="link"
          onClick={() =>
            void navigator.clipboard.writeText(text).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? 'copied' : 'copy'}
        </button>
      </div>
      <pre>{open ? text : `${text.slice(0, COLLAPSE_CHARS)}…`}</pre>
    </div>
  );
}
