// Calls to the operator API through the console's own server, which signs them (SigV4) with the
// operator's AWS credentials. Card numbers only ever travel in a POST body.

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;

export const BASE = meta("console-base");
/** [{method, path, policy, label}]: every call the console makes and the policy it needs. */
export const OPERATIONS = JSON.parse(meta("console-operations"));

export class ApiError extends Error {
  constructor(status, code, message, operation) {
    super(message);
    this.status = status;
    this.code = code;
    this.operation = operation;
  }
}

function operationFor(method, path) {
  return OPERATIONS.find((op) => op.method === method && op.path === path) || null;
}

async function send(url, options, operation) {
  let response;
  try {
    response = await fetch(url, {
      ...options,
      cache: "no-store",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Giftcard-Console": "1" },
    });
  } catch {
    throw new ApiError(0, "console_down",
      "The console's own server does not answer: it may have been stopped. Start it again " +
      "(giftcard console) and reload this page.", operation);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, data?.error_code || "unknown",
      data?.message || `HTTP ${response.status}`, operation);
  }
  return data;
}

export function post(path, body) {
  return send(`${BASE}/api${path}`, { method: "POST", body: JSON.stringify(body || {}) },
    operationFor("POST", path));
}

export function get(path, query) {
  const search = query ? `?${new URLSearchParams(query)}` : "";
  return send(`${BASE}/api${path}${search}`, { method: "GET" }, operationFor("GET", path));
}

export function session() {
  return send(`${BASE}/api/session`, { method: "GET" }, null);
}

export function allowed(session, path) {
  const operation = OPERATIONS.find((op) => op.path === path);
  return !operation || operation.policy === "support" || session.policy === "finance";
}

export function cardUrl(cardId) {
  return `${BASE}/card?${new URLSearchParams({ card_id: cardId })}`;
}

const WORDS = {
  card_not_found: "No card has that number or card id.",
  insufficient_funds: "That would take the balance below zero.",
  card_not_active: "Only an active card can be adjusted.",
  amount_out_of_range: "That amount is out of range for this currency.",
  audit_not_found: "No audit has finished for that date yet.",
  rate_limit: "Too many requests at once: wait a moment and try again.",
  retry_error: "The operator API is busy right now: try again in a moment.",
  internal_error: "The operator API failed on this request: try again; if it keeps failing, " +
    "its logs have the request.",
  payload_too_large: "That request is too large.",
  not_found: "The operator API has no such call (an older deployment?).",
};

/** An error in words: what failed, and for a 403 which policy the operator lacks. */
export function describe(error, session) {
  if (!(error instanceof ApiError)) return `Something went wrong in the page: ${error}`;
  const operation = error.operation;
  if (error.status === 403 && operation) {
    const held = session?.policy;
    if (operation.policy === "finance" && held !== "finance") {
      return `You cannot ${operation.label}: your AWS identity does not hold the finance ` +
        `policy (it holds ${held || "no"} operator policy). Ask for the giftcard finance policy.`;
    }
    return `The operator API refused to let you ${operation.label}: your AWS identity does not ` +
      `hold the ${operation.policy} policy, or its credentials have expired. ` +
      `(The API said: ${error.message})`;
  }
  if (error.code.startsWith("console_")) return error.message;
  const words = WORDS[error.code];
  if (words && error.code === "amount_out_of_range") return `${words} (${error.message})`;
  if (words) return words;
  if (error.code === "invalid_request") return `The operator API refused the request: ${error.message}`;
  return `${error.message} (${error.code}, HTTP ${error.status})`;
}
