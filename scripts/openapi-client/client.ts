// A small typed client over the types openapi-typescript generates from
// openapi.yaml (generated/api.d.ts, made by check.sh). scripts/test.sh runs
// `tsc --noEmit` on it: when an operationId, a path, a parameter or a body shape
// the mini-program and the console rely on changes in openapi.yaml, this file
// stops type-checking and the front-end team hears of it before they ship.
//
// It is also the shape we suggest to the front-end team: call an operation by its
// operationId, get its documented success body back, or an ApiError carrying the
// envelope's code.

import type { components, operations, paths } from "./generated/api";

export type Schemas = components["schemas"];
type OpId = keyof operations;
type Method = "get" | "post" | "put" | "patch" | "delete";

// The (method, path) of an operation, checked against `paths`: the entry for id K
// must be a path whose method M is exactly operations[K].
type RouteOf<K extends OpId> = {
  [P in keyof paths]: {
    [M in Method]: paths[P][M] extends operations[K] ? (operations[K] extends paths[P][M] ? readonly [M, P] : never) : never;
  }[Method];
}[keyof paths];

type JsonContent<T> = T extends { content: { "application/json": infer B } } ? B : never;
type Responses<K extends OpId> = operations[K]["responses"];
type SuccessStatus<K extends OpId> = Extract<keyof Responses<K>, 200 | 201 | 204>;
/** The documented success body of operation K (undefined for 204). */
export type Ok<K extends OpId> = SuccessStatus<K> extends 204 ? undefined : JsonContent<Responses<K>[SuccessStatus<K>]>;
type Params<K extends OpId> = operations[K]["parameters"];
type PathParams<K extends OpId> = Params<K> extends { path: infer P } ? P : never;
type QueryParams<K extends OpId> = Params<K> extends { query?: infer Q } ? Q : never;
type Body<K extends OpId> = operations[K] extends { requestBody: infer R } ? JsonContent<R> : never;

/** What one call takes: path parameters, query and body only where the operation has them. */
export type Input<K extends OpId> = ([PathParams<K>] extends [never] ? {} : { path: PathParams<K> }) &
  ([QueryParams<K>] extends [never | undefined] ? {} : { query?: QueryParams<K> }) &
  ([Body<K>] extends [never] ? {} : { body: Body<K> }) & { idempotencyKey?: string };

/** An answer outside 2xx: the contract's envelope {"error": {"code", "message"}}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function route<K extends OpId>(_id: K, r: RouteOf<K>): RouteOf<K> {
  return r;
}

// The operations the mini-program and the console call. Each line type-checks only
// while openapi.yaml has that operationId on that method and path.
export const routes = {
  loginWithWeChat: route("loginWithWeChat", ["post", "/api/v1/auth/wechat"]),
  refreshTokens: route("refreshTokens", ["post", "/api/v1/auth/refresh"]),
  getMe: route("getMe", ["get", "/api/v1/me"]),
  updateMe: route("updateMe", ["patch", "/api/v1/me"]),
  listPrograms: route("listPrograms", ["get", "/api/v1/programs"]),
  getProgram: route("getProgram", ["get", "/api/v1/programs/{id}"]),
  createBooking: route("createBooking", ["post", "/api/v1/bookings"]),
  listMyBookings: route("listMyBookings", ["get", "/api/v1/bookings"]),
  cancelBooking: route("cancelBooking", ["post", "/api/v1/bookings/{id}/cancel"]),
  createComplaint: route("createComplaint", ["post", "/api/v1/complaints"]),
  getComplaint: route("getComplaint", ["get", "/api/v1/complaints/{id}"]),
  getMyPoints: route("getMyPoints", ["get", "/api/v1/points"]),
  createRedemption: route("createRedemption", ["post", "/api/v1/redemptions"]),
  staffConfirmBooking: route("staffConfirmBooking", ["post", "/api/v1/staff/bookings/{id}/confirm"]),
  staffCheckIn: route("staffCheckIn", ["post", "/api/v1/staff/checkins"]),
  staffResolveComplaint: route("staffResolveComplaint", ["post", "/api/v1/staff/complaints/{id}/resolve"]),
} as const;

type Known = keyof typeof routes;

/** A client bound to an API base and a way to get the current access token. */
export function client(base: string, token: () => string | undefined) {
  return async function call<K extends Known>(id: K, input: Input<K>): Promise<Ok<K>> {
    const [method, template] = routes[id];
    const anyInput = input as { path?: Record<string, string | number>; query?: Record<string, unknown>; body?: unknown; idempotencyKey?: string };
    let url = template as string;
    for (const [k, v] of Object.entries(anyInput.path ?? {})) url = url.replace(`{${k}}`, encodeURIComponent(String(v)));
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(anyInput.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const headers: Record<string, string> = {};
    const t = token();
    if (t) headers["Authorization"] = `Bearer ${t}`;
    if (anyInput.idempotencyKey) headers["Idempotency-Key"] = anyInput.idempotencyKey;
    let body: string | undefined;
    if ("body" in anyInput) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(anyInput.body);
    }
    const res = await fetch(base + url + (qs.size ? `?${qs}` : ""), { method: method.toUpperCase(), headers, ...(body === undefined ? {} : { body }) });
    if (!res.ok) {
      const env = (await res.json().catch(() => undefined)) as Schemas["Error"] | undefined;
      throw new ApiError(res.status, env?.error.code ?? "unknown", env?.error.message ?? res.statusText);
    }
    return (res.status === 204 ? undefined : await res.json()) as Ok<K>;
  };
}

// A resident's journey, type-checked: log in, book a session, file a complaint.
// Never run; it exists so tsc checks the shapes the mini-program depends on.
export async function residentJourney(base: string, wxCode: string): Promise<string[]> {
  let access: string | undefined;
  const call = client(base, () => access);
  const login: Schemas["Login"] = await call("loginWithWeChat", { body: { code: wxCode } });
  access = login.access_token;
  const programs = await call("listPrograms", { query: { kind: "activity" } });
  const first = programs.items[0];
  const out: string[] = [login.user.role];
  if (first) {
    const program = await call("getProgram", { path: { id: first.id } });
    const session = program.sessions[0];
    if (session) {
      const booking: Schemas["Booking"] = await call("createBooking", { body: { session_id: session.id }, idempotencyKey: "k-1" });
      out.push(booking.status, booking.code);
      try {
        await call("cancelBooking", { path: { id: booking.id } });
      } catch (e) {
        if (e instanceof ApiError && e.code === "invalid_transition") out.push("already cancelled");
        else throw e;
      }
    }
  }
  const points = await call("getMyPoints", {});
  out.push(String(points.balance));
  return out;
}
