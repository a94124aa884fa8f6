export function StatusBadge({ status }: { status: string }) {
  return <span className={`status s-${status.toLowerCase()}`}>{status.toLowerCase()}</span>;
}
