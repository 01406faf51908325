// The card: its state, money, PIN lock and customer, the actions the operator's policy allows,
// and its history (newest first, paged, with the balance after each entry).

import { actionsFor, openAction } from "./actions.js";
import { BASE, describe, post } from "./api.js";
import { announce, el, headings, money, setTitle, time } from "./format.js";

const KINDS = {
  issue: "Issued",
  activate: "Activated",
  deactivate_void: "Deactivated",
  hold: "Reserved",
  capture: "Captured",
  release: "Released",
  release_void: "Release voided",
  refund: "Refunded",
  adjust: "Adjusted",
  freeze: "Frozen",
  unfreeze: "Unfrozen",
  unlock_pin: "PIN unlocked",
  expiry_set: "Expiry set",
  customer_erased: "Customer erased",
};
const PAGE_SIZES = [10, 20, 50, 100];

function row(name, ...value) {
  return [el("dt", {}, name), el("dd", {}, ...value)];
}

function pinText(pin) {
  if (!pin || !pin.has_pin) return ["No PIN"];
  const parts = [`${pin.failures} failed ${pin.failures === 1 ? "try" : "tries"}`];
  if (pin.hard_locked) parts.push("; locked until an operator unlocks it");
  else if (pin.locked_until && new Date(pin.locked_until) > new Date()) {
    return [...parts, "; locked until ", time(pin.locked_until)];
  }
  return parts;
}

function details(card) {
  const frozen = card.frozen
    ? ["Yes: ", el("q", {}, card.frozen.reason), ", by ", el("code", {}, card.frozen.by), ", ",
      time(card.frozen.at)]
    : ["No"];
  const customer = card.customer
    ? [el("span", {}, `${card.customer.name || "(no name)"}`), " · ",
      el("span", {}, card.customer.email || "(no e-mail)"), " · id ",
      el("code", {}, card.customer.id)]
    : ["None"];
  return el("dl", { class: "details" },
    row("State", card.state),
    row("Frozen", ...frozen),
    row("Balance (spendable)", el("strong", { id: "balance" }, money(card.balance))),
    row("Held by reservations", money(card.held)),
    row("Open reservations", String(card.open_reservations ?? 0)),
    row("Expires", time(card.expires_at, "Never")),
    row("PIN", ...pinText(card.pin)),
    row("Customer", ...customer),
    row("Card id", el("code", {}, card.card_id)),
    row("Created", time(card.created_at)),
    row("Activated", time(card.activated_at)),
    row("Deactivated", time(card.deactivated_at)),
    row("Last activity", time(card.last_activity_at)));
}

function historyTable(entries) {
  const columns = ["When", "What", "Amount", "Balance after", "Held after", "By", "Reason",
    "Store"];
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "History" },
    el("table", { id: "history" },
      el("caption", {}, "History, newest first, with the balance after each entry"),
      headings(columns, ["Amount", "Balance after", "Held after"]),
      el("tbody", {}, entries.length ? entries.map((entry) => el("tr", { dataset: { kind: entry.kind } },
        el("td", {}, time(entry.created_at)),
        el("th", { scope: "row" }, KINDS[entry.kind] || entry.kind),
        el("td", { class: "num" }, money(entry.amount)),
        el("td", { class: "num" }, money(entry.balance_after)),
        el("td", { class: "num" }, money(entry.held_after)),
        el("td", { class: "actor" }, entry.actor || "—"),
        el("td", {}, entry.reason || ""),
        el("td", {}, entry.store_id || ""))) :
        el("tr", {}, el("td", { colspan: headings.length }, "No entries.")))));
}

export async function cardPage(main, session) {
  const cardId = new URLSearchParams(location.search).get("card_id");
  if (!cardId) {
    setTitle("Card");
    main.replaceChildren(el("h1", {}, "No card chosen"),
      el("p", {}, el("a", { href: `${BASE}/` }, "Find a card")));
    return;
  }
  const state = { card: null, cursors: [null], page: 0, size: 20, next: null };
  const heading = el("h1", { tabindex: "-1" });
  const badges = el("p", { class: "badges" });
  // Read out through the page's one live region (announce), not twice.
  const notice = el("p", { class: "notice", hidden: true });
  const detailBox = el("section", { "aria-labelledby": "details-title" });
  const actionBar = el("div", { class: "actions", role: "group", "aria-label": "Actions" });
  const actionSection = el("section", { "aria-labelledby": "actions-title" },
    el("h2", { id: "actions-title" }, "Actions"), actionBar);
  const historyBox = el("div");
  const historyError = el("p", { class: "alert", role: "alert", hidden: true });
  const position = el("span", { class: "position" });
  const newer = el("button", { type: "button" }, "Newer entries");
  const older = el("button", { type: "button" }, "Older entries");
  const size = el("select", { id: "page-size" },
    PAGE_SIZES.map((n) => el("option", { value: n, selected: n === state.size }, String(n))));

  async function loadHistory() {
    historyError.hidden = true;
    try {
      const answer = await post("/admin/cards/history",
        { card_id: cardId, limit: state.size, cursor: state.cursors[state.page] || undefined });
      state.next = answer.next_cursor;
      historyBox.replaceChildren(historyTable(answer.entries));
      const first = state.page * state.size + 1;
      position.textContent = answer.entries.length
        ? `Entries ${first}–${first + answer.entries.length - 1}` : "";
      newer.disabled = state.page === 0;
      older.disabled = !state.next;
    } catch (error) {
      historyError.textContent = describe(error, session);
      historyError.hidden = false;
    }
  }

  function draw(card) {
    state.card = card;
    setTitle(`Card •••• ${card.last4}`);
    heading.textContent = `Card •••• ${card.last4}`;
    badges.replaceChildren(el("span", { class: `badge state-${card.state}` }, card.state),
      card.frozen ? el("span", { class: "badge frozen" }, "frozen") : "",
      card.pin?.hard_locked ? el("span", { class: "badge locked" }, "PIN locked") : "");
    detailBox.replaceChildren(el("h2", { id: "details-title" }, "Details"), details(card));
    const actions = actionsFor(card, session);
    actionBar.replaceChildren(...actions.map((action) => el("button", {
      type: "button", id: `action-${action.id}`, on: {
        click: (event) => openAction(action, card, session, event.currentTarget, done),
      },
    }, action.label)));
    if (!actions.length) actionBar.replaceChildren(el("p", {}, "No action applies to this card."));
  }

  async function done(message, card) {
    if (card) draw(card);
    else draw((await post("/admin/cards/lookup", { card_id: cardId })).card);
    state.cursors = [null];
    state.page = 0;
    await loadHistory();
    // Said once the whole page shows the change, history included.
    notice.textContent = message;
    notice.hidden = false;
    announce(message);
    heading.focus();
  }

  newer.addEventListener("click", () => { state.page -= 1; loadHistory(); });
  older.addEventListener("click", () => {
    state.cursors[state.page + 1] = state.next;
    state.page += 1;
    loadHistory();
  });
  size.addEventListener("change", () => {
    state.size = Number(size.value);
    state.cursors = [null];
    state.page = 0;
    loadHistory();
  });

  setTitle("Card");
  heading.textContent = "Card";
  main.replaceChildren(heading);
  const { card } = await post("/admin/cards/lookup", { card_id: cardId });
  draw(card);
  main.replaceChildren(heading, badges, notice, detailBox, actionSection,
    el("section", { "aria-labelledby": "history-title" },
      el("h2", { id: "history-title" }, "History"),
      el("div", { class: "pager" },
        el("label", { for: "page-size" }, "Entries per page "), size, newer, older, position),
      historyError, historyBox));
  await loadHistory();
}
