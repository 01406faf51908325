// Building the page safely (text nodes, never HTML from data) and formatting money and times for
// the operator: money per its currency (Intl.NumberFormat), times in the operator's time zone with
// UTC on hover.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (name === "class") {
      node.className = value;
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

/** A table's column headings; those in `numeric` align right, over their figures. */
export function headings(names, numeric = []) {
  return el("thead", {}, el("tr", {}, names.map((name) =>
    el("th", { scope: "col", class: numeric.includes(name) ? "num" : null }, name))));
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  // A change the screen reader notices even when the same words come twice.
  window.setTimeout(() => { region.textContent = text; }, 50);
}

export function setTitle(name) {
  document.title = `${name} — Gift card console`;
}

// Money ------------------------------------------------------------------------------------------

const formats = new Map();

function currencyFormat(currency, options = {}) {
  const key = currency + JSON.stringify(options);
  if (!formats.has(key)) {
    formats.set(key, new Intl.NumberFormat(undefined, { style: "currency", currency, ...options }));
  }
  return formats.get(key);
}

export function minorDigits(currency) {
  return currencyFormat(currency).resolvedOptions().maximumFractionDigits;
}

/** "12.5" -> 1250 (minor units) for a currency of 2 digits; null when it is not such a number. */
export function toMinor(text, digits) {
  const match = /^(-)?(\d+)(?:\.(\d*))?$/.exec(String(text).trim());
  if (!match || (match[3] || "").length > digits) return null;
  const fraction = (match[3] || "").padEnd(digits, "0");
  const minor = Number(match[2] + fraction);
  if (!Number.isSafeInteger(minor)) return null;
  return match[1] ? -minor : minor;
}

/** 1250 -> "12.50": the decimal text the API takes (a JSON number in major units). */
export function fromMinor(minor, digits) {
  const sign = minor < 0 ? "-" : "";
  const text = String(Math.abs(minor)).padStart(digits + 1, "0");
  return digits ? `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}` : `${sign}${text}`;
}

export function moneyMinor(value) {
  return value ? toMinor(decimalText(value.value), minorDigits(value.currency)) : null;
}

function decimalText(number) {
  // JSON numbers from the API are short decimals; toFixed avoids "1e-7" forms.
  const text = String(number);
  return text.includes("e") ? Number(number).toFixed(8).replace(/\.?0+$/, "") : text;
}

export function money(value) {
  if (!value) return "—";
  return currencyFormat(value.currency).format(Number(value.value));
}

export function moneyOf(minor, currency) {
  return currencyFormat(currency).format(Number(fromMinor(minor, minorDigits(currency))));
}

export function moneyShort(amount, currency) {
  return currencyFormat(currency, { notation: "compact", maximumFractionDigits: 1 }).format(amount);
}

// Times ------------------------------------------------------------------------------------------

const local = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" });

export function utcText(iso) {
  const date = new Date(iso);
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function localText(iso) {
  const date = new Date(iso);
  const zoneName = zone.formatToParts(date).find((part) => part.type === "timeZoneName");
  return `${local.format(date)}${zoneName ? ` ${zoneName.value}` : ""}`;
}

/** A <time> in the operator's time zone, UTC on hover; "—" (or `none`) when there is no time. */
export function time(iso, none = "—") {
  if (!iso) return none;
  return el("time", { datetime: iso, title: utcText(iso) }, localText(iso));
}

export function day(isoDate) {
  // An audited date (YYYY-MM-DD, a UTC day) shown as that day, not shifted into a time zone.
  const [year, month, dayOfMonth] = isoDate.split("-").map(Number);
  return new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" })
    .format(new Date(Date.UTC(year, month - 1, dayOfMonth)));
}
