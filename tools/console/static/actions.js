// The actions on a card, each behind a dialog that requires a reason and shows what will change.
// Finance-only actions are not drawn at all for an operator holding the support policy.

import { describe, post } from "./api.js";
import {
  el, fromMinor, localText, minorDigits, money, moneyMinor, moneyOf, toMinor, utcText,
} from "./format.js";

const REASON_HINT = "3 to 200 characters, kept in the card's history with your name. Never a " +
  "card number: a run of 12 or more digits is refused.";

/** The reason rule of the operator API (back-office.md), checked before sending. */
export function reasonProblem(reason) {
  if (reason.length < 3) return "Give a reason of at least 3 characters.";
  if (reason.length > 200) return "A reason is at most 200 characters.";
  // As the API counts them: a space or dash between two digits does not end the run.
  if (/\d(?:[ -]?\d){11,}/.test(reason)) {
    return "A reason may not contain a run of 12 or more digits (it could be a card number).";
  }
  return null;
}

function yesNo(flag) {
  return flag ? "Yes" : "No";
}

const ACTIONS = [
  {
    id: "freeze", label: "Freeze card", policy: "support", path: "/admin/cards/freeze",
    applies: (card) => !card.frozen,
    explain: "The card refuses new spending and loading until it is unfrozen. Reservations " +
      "made before can still be captured or revoked, refunds still reach it.",
    changes: () => [["Frozen", "No", "Yes: balance and activate answer card_frozen"]],
    done: () => "Card frozen.",
  },
  {
    id: "unfreeze", label: "Unfreeze card", policy: "support", path: "/admin/cards/unfreeze",
    applies: (card) => Boolean(card.frozen),
    explain: "The card can be spent and loaded again.",
    changes: (card) => [["Frozen", `Yes (${card.frozen.reason})`, "No"]],
    done: () => "Card unfrozen.",
  },
  {
    id: "unlock_pin", label: "Unlock PIN", policy: "support", path: "/admin/cards/unlock_pin",
    applies: (card) => Boolean(card.pin?.has_pin),
    explain: "Clears the failed PIN tries and any lock. Confirm with the card holder first.",
    changes: (card) => [
      ["Failed PIN tries", String(card.pin.failures), "0"],
      ["Locked until", card.pin.locked_until ? localText(card.pin.locked_until) : "not locked",
        "not locked"],
      ["Locked until an operator unlocks", yesNo(card.pin.hard_locked), "No"],
    ],
    done: () => "PIN unlocked.",
  },
  {
    id: "adjust", label: "Adjust balance", policy: "finance", path: "/admin/cards/adjust",
    applies: (card) => card.state === "active" && Boolean(card.currency),
    explain: "Adds money to the balance or takes it off, as one ledger entry of kind adjust.",
    fields: adjustFields,
    done: (answer) => `Balance adjusted: now ${money(answer.card.balance)}.`,
  },
  {
    id: "expiry", label: "Set expiry", policy: "finance", path: "/admin/cards/expiry",
    applies: () => true,
    explain: "The card cannot be spent after its expiry (a date and time in your time zone).",
    fields: expiryFields,
    done: (answer) => answer.card.expires_at
      ? `Expiry set to ${localText(answer.card.expires_at)}.` : "Expiry removed.",
  },
  {
    id: "erase", label: "Erase customer", policy: "finance", path: "/admin/customers/erase",
    applies: (card) => Boolean(card.customer),
    explain: "Removes the customer's data from every card of this customer (for a deletion " +
      "request). Balances and the ledger stay. This cannot be undone.",
    changes: (card) => [
      ["Customer on this and every other card of the customer",
        `${card.customer.name || "(no name)"}, ${card.customer.email || "(no e-mail)"}, id ${card.customer.id}`,
        "None"],
      ["Balances and history", "kept", "kept"],
    ],
    body: (card) => ({ customer_id: card.customer.id }),
    done: (answer) => `Customer erased from ${answer.erased_cards} card(s).`,
  },
];

export function actionsFor(card, session) {
  return ACTIONS.filter((action) =>
    (action.policy === "support" || session.policy === "finance") && action.applies(card));
}

function changeTable(rows) {
  return el("table", { class: "changes" },
    el("caption", {}, "What will change"),
    el("thead", {}, el("tr", {}, ["", "Now", "After"].map((name) => el("th", { scope: "col" }, name)))),
    el("tbody", {}, rows.map(([name, before, after]) => el("tr", {},
      el("th", { scope: "row" }, name), el("td", {}, before), el("td", {}, after)))));
}

function adjustFields(card, update) {
  const digits = minorDigits(card.currency);
  const add = el("input", { type: "radio", name: "direction", value: "add", checked: true });
  const remove = el("input", { type: "radio", name: "direction", value: "remove" });
  const amount = el("input", {
    id: "adjust-amount", type: "text", inputmode: "decimal", autocomplete: "off",
    "aria-describedby": "adjust-amount-hint", required: true,
  });
  const now = moneyMinor(card.balance) ?? 0;
  // One key per dialog: sending again after a lost answer is the same adjustment, not a second.
  const key = crypto.randomUUID();
  const read = () => {
    const minor = toMinor(amount.value, digits);
    if (minor === null || minor <= 0) return { problem: `Type an amount greater than 0 with at most ${digits} decimals.` };
    const signed = remove.checked ? -minor : minor;
    return { signed, after: now + signed };
  };
  const changes = () => {
    const { signed, after } = read();
    return [["Balance", moneyOf(now, card.currency),
      signed === undefined ? "—" : moneyOf(after, card.currency)]];
  };
  for (const input of [add, remove, amount]) input.addEventListener("input", update);
  return {
    nodes: [
      el("fieldset", { class: "by" }, el("legend", {}, "Direction"),
        el("label", {}, add, " add money"), el("label", {}, remove, " take money off")),
      el("div", { class: "field" },
        el("label", { for: "adjust-amount" }, `Amount (${card.currency})`),
        el("p", { class: "hint", id: "adjust-amount-hint" }, `For example ${fromMinor(1050, digits)}.`),
        amount),
    ],
    first: amount,
    changes,
    body: () => {
      const { problem, signed, after } = read();
      if (problem) return { problem };
      if (after < 0) return { problem: "That would take the balance below zero." };
      return {
        body: {
          amount: { value: Number(fromMinor(signed, digits)), currency: card.currency },
          idempotency_key: key,
        },
      };
    },
  };
}

function localInputValue(iso) {
  const date = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function expiryFields(card, update) {
  const when = el("input", {
    id: "expiry-at", type: "datetime-local", "aria-describedby": "expiry-hint",
    value: card.expires_at ? localInputValue(card.expires_at) : null,
  });
  const none = el("input", { id: "expiry-none", type: "checkbox" });
  const chosen = () => {
    if (none.checked) return { iso: null };
    if (!when.value) return { problem: "Choose a date and time, or tick 'No expiry'." };
    const date = new Date(when.value);  // a datetime-local value is the operator's local time
    if (Number.isNaN(date.getTime())) return { problem: "That is not a date and time." };
    return { iso: date.toISOString().replace(/\.\d{3}Z$/, "Z") };
  };
  for (const input of [when, none]) input.addEventListener("input", update);
  none.addEventListener("change", () => { when.disabled = none.checked; update(); });
  return {
    nodes: [
      el("div", { class: "field" },
        el("label", { for: "expiry-at" }, "Expires at"),
        el("p", { class: "hint", id: "expiry-hint" }, "In your time zone; it is sent in UTC."),
        when),
      el("div", { class: "field" }, el("label", {}, none, " No expiry")),
    ],
    first: when,
    changes: () => {
      const { iso, problem } = chosen();
      const now = card.expires_at ? `${localText(card.expires_at)} (${utcText(card.expires_at)})` : "Never";
      const after = problem ? "—" : iso ? `${localText(iso)} (${utcText(iso)})` : "Never";
      return [["Expires", now, after]];
    },
    body: () => {
      const { iso, problem } = chosen();
      return problem ? { problem } : { body: { expires_at: iso } };
    },
  };
}

/** Open the action's dialog; `done(message, card)` redraws the page after it succeeded. */
export function openAction(action, card, session, opener, done) {
  const titleId = `dialog-${action.id}-title`;
  const changeBox = el("div");
  const error = el("p", { class: "alert", role: "alert", hidden: true });
  const update = () => changeBox.replaceChildren(changeTable(fields ? fields.changes() : action.changes(card)));
  const fields = action.fields ? action.fields(card, update) : null;
  const reason = el("textarea", {
    id: "reason", name: "reason", rows: 3, maxlength: 200, required: true,
    "aria-describedby": "reason-hint", autocomplete: "off",
  });
  const confirm = el("button", { type: "submit", class: "primary" }, action.label);
  const cancel = el("button", { type: "button" }, "Cancel");
  const dialog = el("dialog", { "aria-labelledby": titleId, class: "action" });
  const close = () => {
    dialog.close();
    dialog.remove();
    if (opener.isConnected) opener.focus();
  };
  const form = el("form", { method: "dialog", novalidate: true, on: {
    submit: async (event) => {
      event.preventDefault();
      error.hidden = true;
      const problem = reasonProblem(reason.value.trim());
      const extra = fields ? fields.body() : { body: {} };
      const shown = extra.problem || problem;
      if (shown) {
        error.textContent = shown;
        error.hidden = false;
        (extra.problem && fields ? fields.first : reason).focus();
        return;
      }
      const body = action.body ? action.body(card) : { card_id: card.card_id };
      confirm.disabled = true;
      try {
        const answer = await post(action.path, { ...body, ...extra.body, reason: reason.value.trim() });
        dialog.close();
        dialog.remove();
        await done(action.done(answer), answer.card);
      } catch (failure) {
        error.textContent = describe(failure, session);
        error.hidden = false;
        confirm.disabled = false;
        confirm.focus();
      }
    },
  } },
  el("h2", { id: titleId }, `${action.label} •••• ${card.last4}`),
  el("p", {}, action.explain),
  fields ? fields.nodes : [],
  changeBox,
  el("div", { class: "field" },
    el("label", { for: "reason" }, "Reason"),
    el("p", { class: "hint", id: "reason-hint" }, REASON_HINT),
    reason),
  error,
  el("div", { class: "buttons" }, cancel, confirm));
  // A refusal is about what was sent: once the operator edits the form it no longer applies.
  form.addEventListener("input", () => { error.hidden = true; });
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(); });
  dialog.append(form);
  document.body.append(dialog);
  update();
  dialog.showModal();
  (fields ? fields.first : reason).focus();
}
