// Search: a card number (typed or pasted, spaces and dashes allowed), a card id, or a customer id.
// The number goes in a POST body only: never the URL, the title, the history or storage.

import { cardUrl, describe, post } from "./api.js";
import { announce, el, headings, money, setTitle, time } from "./format.js";

export function cardsTable(cards, caption) {
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    el("table", {},
      el("caption", {}, caption),
      headings(["Card", "State", "Frozen", "Balance", "Held", "Last activity"],
        ["Balance", "Held"]),
      el("tbody", {}, cards.map((card) => el("tr", {},
        el("th", { scope: "row" }, el("a", { href: cardUrl(card.card_id) }, `•••• ${card.last4}`)),
        el("td", {}, card.state),
        el("td", {}, card.frozen ? "frozen" : "no"),
        el("td", { class: "num" }, money(card.balance)),
        el("td", { class: "num" }, money(card.held)),
        el("td", {}, time(card.last_activity_at)))))));
}

export function searchPage(main, session) {
  setTitle("Search");
  const input = el("input", {
    id: "query", name: "query", type: "text", autocomplete: "off", spellcheck: "false",
    autocapitalize: "off", "aria-describedby": "query-hint", required: true,
  });
  const byCard = el("input", { type: "radio", name: "by", value: "card", id: "by-card", checked: true });
  const byCustomer = el("input", { type: "radio", name: "by", value: "customer", id: "by-customer" });
  const label = el("label", { for: "query" }, "Card number or card id");
  const hint = el("p", { id: "query-hint", class: "hint" },
    "Type or paste the number; spaces and dashes are fine. It is sent in the request body " +
    "only and is not kept.");
  const error = el("p", { class: "alert", role: "alert", id: "search-error", hidden: true });
  const results = el("section", { id: "results", "aria-live": "polite" });
  const button = el("button", { type: "submit" }, "Search");

  const setMode = () => {
    const customer = byCustomer.checked;
    label.textContent = customer ? "Customer id" : "Card number or card id";
    hint.textContent = customer
      ? "The customer id NewStore sent when the card was issued."
      : "Type or paste the number; spaces and dashes are fine. It is sent in the request body " +
        "only and is not kept.";
  };
  byCard.addEventListener("change", setMode);
  byCustomer.addEventListener("change", setMode);

  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
    input.focus();
  };

  // method=post without an action: should the script ever not run, the browser posts to this
  // page (the server refuses it) instead of putting the number in the URL as a GET would.
  const form = el("form", { method: "post", class: "search", novalidate: true, on: {
    submit: async (event) => {
      event.preventDefault();
      error.hidden = true;
      results.replaceChildren();
      const raw = input.value.trim();
      if (!raw) return fail("Type a card number, a card id or a customer id.");
      button.disabled = true;
      try {
        if (byCustomer.checked) {
          const { cards } = await post("/admin/customers/cards", { customer_id: raw });
          results.replaceChildren(
            el("h2", {}, cards.length ? `${cards.length} card(s) of this customer` :
              "No cards for this customer id"),
            cards.length ? cardsTable(cards, "The customer's cards") : "");
          announce(`${cards.length} card(s) found.`);
          return;
        }
        let body;
        const compact = raw.replace(/[\s-]/g, "");
        if (/^c_[A-Za-z0-9_-]+$/.test(raw)) body = { card_id: raw };
        else if (/^\d{12,19}$/.test(compact)) body = { number: compact };
        else {
          return fail("A card number is 12 to 19 digits (spaces and dashes are fine); a card " +
            "id starts with c_.");
        }
        const { card } = await post("/admin/cards/lookup", body);
        input.value = "";
        location.assign(cardUrl(card.card_id));
      } catch (problem) {
        fail(describe(problem, session));
      } finally {
        button.disabled = false;
      }
    },
  } },
  el("fieldset", { class: "by" }, el("legend", {}, "Search for"),
    el("label", {}, byCard, " a card"),
    el("label", {}, byCustomer, " a customer's cards")),
  el("div", { class: "field" }, label, hint, input),
  button);

  main.replaceChildren(el("h1", {}, "Find a card"), form, error, results);
  // Leaving with the number still in the field would let the browser restore it on Back.
  window.addEventListener("pagehide", () => { input.value = ""; });
  input.focus();
}
