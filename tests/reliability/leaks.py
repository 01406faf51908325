"""Secrets in log output, on top of ``tests.support.calls``' scanner.

``find_secrets`` knows the values a test registered (``invoke`` registers every number, PIN and
e-mail of a request and of an issued card) plus the API key, and any e-mail address. This adds one
generic check: a digit run that looks like a card number of these suites (our prefixes, Luhn
valid) is a leak even if no test registered it (a number generated and logged on a failed path).
Findings are labels, never values.
"""

from __future__ import annotations

import re

from tests.support.calls import Secrets, find_secrets

#: Prefixes of the card numbers the suites create (issued: the default; printed stock: ours).
CARD_PREFIXES = ("7777", "6000")
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9][0-9 -]{10,}[0-9](?![0-9A-Za-z])")


def _luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def leaks(text: str, secrets: Secrets) -> list[str]:
    found = find_secrets(text, secrets)
    for run in _DIGIT_RUN.findall(text):
        digits = re.sub(r"[ -]", "", run)
        if digits in secrets.values:
            found.append(f"{secrets.values[digits]} (spaced or dashed)")
        elif 12 <= len(digits) <= 19 and digits.startswith(CARD_PREFIXES) and _luhn_valid(digits):
            found.append("an unregistered card number")
    return sorted(set(found))
