// The one Connect client of the dashboard, on the page's own origin, and what
// its errors carry (the bearer token, field violations).
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { LoadBalancerService } from "@quantix-lb/client";

const TOKEN_KEY = "quantix-lb.token";

// Kept for the tab only (sessionStorage): a closed tab forgets it.
export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

const bearer: Interceptor = (next) => (req) => {
  const token = storedToken();
  if (token) req.header.set("Authorization", `Bearer ${token}`);
  return next(req);
};

export const client = createClient(
  LoadBalancerService,
  createConnectTransport({ baseUrl: window.location.origin, useBinaryFormat: true, interceptors: [bearer] }),
);

export function isUnauthenticated(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unauthenticated;
}

/** One google.rpc.BadRequest field violation: `field` is a path such as
 * `spec.pools[0].members[1].port`. */
export interface Violation {
  field: string;
  description: string;
}

/** The field violations an INVALID_ARGUMENT error carries (google.rpc.BadRequest details). */
export function violationsOf(err: unknown): Violation[] {
  if (!(err instanceof ConnectError)) return [];
  const found: Violation[] = [];
  for (const detail of err.details) {
    if ("type" in detail && detail.type === "google.rpc.BadRequest") found.push(...decodeBadRequest(detail.value));
  }
  return found;
}

// google.rpc.BadRequest { repeated FieldViolation field_violations = 1; }
// FieldViolation { string field = 1; string description = 2; } — read off the wire, so
// the page needs no generated code for google/rpc.
function decodeBadRequest(bytes: Uint8Array): Violation[] {
  const out: Violation[] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, type] = reader.tag();
    if (no === 1 && type === WireType.LengthDelimited) out.push(decodeViolation(reader.bytes()));
    else reader.skip(type);
  }
  return out;
}

function decodeViolation(bytes: Uint8Array): Violation {
  const v: Violation = { field: "", description: "" };
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, type] = reader.tag();
    if (no === 1 && type === WireType.LengthDelimited) v.field = reader.string();
    else if (no === 2 && type === WireType.LengthDelimited) v.description = reader.string();
    else reader.skip(type);
  }
  return v;
}

/** What to tell a person about a failed call. */
export function messageOf(err: unknown): string {
  if (err instanceof ConnectError) return `${codeName(err.code)}: ${err.rawMessage}`;
  return err instanceof Error ? err.message : String(err);
}

/** A Connect code as gRPC spells it: Code.InvalidArgument → INVALID_ARGUMENT. */
export function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
