import { useRef, useState } from 'react';

/** Values longer than this are collapsed until asked for. */
const COLLAPSE_CHARS = 400;

/** A JSON value: pretty, collapsed when large, and copyable. */
export function Json({ value, label }: { value: unknown; label: string }) {
  const text = value === undefined ? 'null' : JSON.stringify(value, null, 2);
  const large = text.length > COLLAPSE_CHARS;
  const [open, setOpen] = useState(!large);
  const [copied, setCopied] = useState<string | null>(null);
  const pre = useRef<HTMLPreElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('copied');
    } catch {
      // No clipboard API outside secure contexts (plain http on a host other than localhost):
      // select the whole value instead, for the user's own copy.
      setOpen(true);
      requestAnimationFrame(() => {
        if (pre.current) window.getSelection()?.selectAllChildren(pre.current);
      });
      setCopied('selected: press Ctrl+C');
    }
  };
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
        <button className="link" onClick={() => void copy()}>
          {copied ?? 'copy'}
        </button>
      </div>
      <pre ref={pre}>{open ? text : `${text.slice(0, COLLAPSE_CHARS)}…`}</pre>
    </div>
  );
}
