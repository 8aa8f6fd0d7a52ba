import { tone } from "../format";

/** An Octavia status word (ONLINE, ERROR, PENDING_UPDATE…), coloured by what it means. */
export function Badge({ status, testid }: { status: string; testid?: string }) {
  return (
    <span className={`badge ${tone(status)}`} data-testid={testid}>
      {status || "—"}
    </span>
  );
}
