// Recent events: the last events the service published (the local run keeps the last 100), newest
// first, each linked to its card by card_id.

import { ApiError, cardUrl, get } from "./api.js";
import { el, headings, money, setTitle, time } from "./format.js";

export async function eventsPage(main) {
  setTitle("Recent events");
  main.replaceChildren(el("h1", {}, "Recent events"));
  let answer;
  try {
    answer = await get("/admin/events/recent");
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      main.append(el("p", {}, "This operator API keeps no recent events: only the local run " +
        "does. A deployed stack publishes every event on its EventBridge bus (with an archive " +
        "to replay)."));
      return;
    }
    throw error;
  }
  const events = [...answer.events].reverse();
  main.append(el("p", { class: "lead" }, `The last ${events.length} event(s), newest first.`),
    el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Events" },
      el("table", { id: "events" },
        el("caption", {}, "Events published by the service"),
        headings(["When", "Event", "Card", "Amount", "Balance after", "By", "Reason"],
          ["Amount", "Balance after"]),
        el("tbody", {}, events.map((event) => {
          const detail = event.detail || {};
          return el("tr", {},
            el("td", {}, time(detail.occurred_at || event.time)),
            el("th", { scope: "row" }, event["detail-type"]),
            el("td", {}, detail.card_id
              ? el("a", { href: cardUrl(detail.card_id), class: "card-link" }, `•••• ${detail.last4 || ""}`) : "—"),
            el("td", { class: "num" }, money(detail.amount)),
            el("td", { class: "num" }, money(detail.balance_after)),
            el("td", { class: "actor" }, detail.actor || "—"),
            el("td", {}, detail.reason || ""));
        })))));
}
