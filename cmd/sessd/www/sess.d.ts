// sess.d.ts: types for sess.js, the sess browser client (see sess-ws(7)
// for the protocol and sess-event(7) for the message conventions).

/** A sess offset: 16 zero-padded digits ("0000000000000007"), or "-1". */
export type Offset = string

/** Any JSON value. */
export type JSONValue =
  | null | boolean | number | string | JSONValue[]
  | { [key: string]: JSONValue }

/** One event of a stream, as pushed by the server. */
export interface SessEvent {
  offset: Offset
  /** RFC 3339 UTC with microseconds. */
  time: string
  /** The JSON value (JSON streams) or the bytes as a string. */
  data: JSONValue
}

/** One connection of a present member. */
export interface Conn {
  conn: string
  since: string
  data: JSONValue
}

/** A present member, as GET /v1/presence/STREAM gives it. */
export interface Member {
  member: string
  since: string
  data: JSONValue
  conns: Conn[]
}

/** A presence transition. */
export interface Presence {
  op: "presence"
  stream: string
  event: "enter" | "update" | "leave"
  member: string
  conn: string
  data: JSONValue
  time: string
  reason: "explicit" | "timeout" | null
  /** This enter made the member present. */
  first: boolean
  /** This leave made the member absent. */
  last: boolean
}

/** The server's first frame. */
export interface Welcome {
  op: "welcome"
  conn: string
  member: string | null
  limits: {
    attachments: number
    message: number
    publish_per_sec: number
    publish_burst: number
  }
  /** Presence grace after an abrupt disconnect, in seconds. */
  grace: number
}

/** An error frame from the server, as an Error. */
export class SessError extends Error {
  /** BAD_FRAME, UNKNOWN_OP, BAD_REQUEST, FORBIDDEN, RATE_LIMITED, ... */
  code: string
  /** The op it answers, or null. */
  op: string | null
  stream: string | null
}

export type Unsubscribe = () => void

export interface ConnectOptions {
  /** A token, or a function giving one (asked again at each reconnect). */
  token?: string | (() => string | Promise<string>)
  /** The member to declare when sessd runs without a key. */
  member?: string
  /** Reconnect backoff bounds in ms (250 and 15000). */
  minDelay?: number
  maxDelay?: number
  /** Ms between pings that find a dead socket (20000; 0 for none). */
  heartbeat?: number
  /** A WebSocket constructor for runtimes without a global one. */
  WebSocket?: typeof WebSocket
}

export type State = "connecting" | "open" | "waiting" | "closed"

/** A stream being followed. */
export interface Attachment {
  readonly stream: string
  /** The last offset delivered, or null before any. */
  readonly offset: Offset | null
  /** The stream's tail at the last (re)attach. */
  readonly tail: Offset | null
  /** The members present, kept up to date by presence transitions. */
  readonly members: Member[]
  readonly attached: boolean
  /** Each event once, in order, across reconnects. */
  on(type: "event", fn: (ev: SessEvent) => void): Unsubscribe
  /** The new events of one push. */
  on(type: "events", fn: (evs: SessEvent[]) => void): Unsubscribe
  on(type: "members", fn: (members: Member[]) => void): Unsubscribe
  on(type: "presence", fn: (p: Presence, members: Member[]) => void): Unsubscribe
  on(type: "closed", fn: (offset: Offset) => void): Unsubscribe
  on(type: "gone", fn: () => void): Unsubscribe
  on(type: "error", fn: (err: SessError) => void): Unsubscribe
  /** After every (re)attach, with the server's ok reply. */
  on(type: "attached", fn: (ok: { stream: string, offset: Offset, tail: Offset }) => void): Unsubscribe
  off(type: string, fn: (...args: any[]) => void): void
  detach(): Promise<void>
}

/** A connection to sessd that reconnects by itself. */
export interface Client {
  readonly state: State
  /** This connection's id and member, from the last welcome. */
  readonly conn: string | null
  readonly member: string | null
  readonly welcome: Welcome | null
  attach(stream: string, opts?: { offset?: Offset | "now" }): Attachment
  publish(stream: string, data: JSONValue, opts?: { mid?: string }):
    Promise<{ offset: Offset, duplicate: boolean, mid: string }>
  enter(stream: string, data?: { [key: string]: JSONValue }): Promise<unknown>
  update(stream: string, data?: { [key: string]: JSONValue }): Promise<unknown>
  leave(stream: string): Promise<unknown>
  members(stream: string): Promise<Member[]>
  ack(stream: string, offset: Offset): Promise<{ offset: Offset, unread: number }>
  /** The round trip in ms. */
  ping(): Promise<number>
  close(): void
  on(type: "state", fn: (s: State) => void): Unsubscribe
  on(type: "welcome", fn: (w: Welcome) => void): Unsubscribe
  on(type: "error", fn: (err: Error) => void): Unsubscribe
  on(type: "close", fn: (ev: CloseEvent) => void): Unsubscribe
  off(type: string, fn: (...args: any[]) => void): void
}

export function connect(url: string, opts?: ConnectOptions): Client

/** A message of the materialized view (sess-replay -s, less producer and attempt). */
export interface Message {
  msg: string
  text: string
  status: "streaming" | "complete" | "deleted"
  /** The offset of the event that created it. */
  first: Offset
  /** The offset of its latest op. */
  last: Offset
}

/**
 * Applies one event's message op (or superseded marker) to messages.
 * Returns the name changed, the names removed, or null.
 */
export function applyMessageOp(messages: Map<string, Message>,
  ev: { offset: Offset, data: JSONValue }): string | string[] | null

/** The messages ordered by first, as sess-replay -s prints them. */
export function messageList(messages: Map<string, Message>): Message[]

/** The members after a presence transition (a new array). */
export function applyPresence(members: Member[], p: Presence): Member[]

/** Is a after b?  null is before every offset. */
export function after(a: Offset | null, b: Offset | null): boolean

/** sessd's WebSocket URL from its base URL. */
export function wsURL(base: string, token?: string, member?: string): string
